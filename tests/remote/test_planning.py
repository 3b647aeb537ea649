"""plan_requests: the requests cover every planned byte, none is larger than the cap, neighbours share a request,
and each request lists exactly the ranges whose bytes it carries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto_splitter.remote import PlannedRequest, plan_requests

ranges = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(0, 3000)).map(lambda pair: (pair[0], pair[0] + pair[1])),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(ranges=ranges, max_request=st.integers(1, 4000), gap=st.integers(0, 500))
def test_requests_cover_each_range_within_the_cap(ranges, max_request, gap):
    requests = plan_requests(ranges, max_request, gap)
    assert all(0 < request.size <= max_request for request in requests)
    for index, (start, end) in enumerate(ranges):
        carriers = [request for request in requests if index in request.entries]
        covered = set()
        for request in carriers:
            assert request.start < end and start < request.end, "a request lists a range it does not touch"
            covered.update(range(max(start, request.start), min(end, request.end)))
        assert covered == set(range(start, end)), f"range {index} is not fully carried"
    for request in requests:
        assert request.entries == sorted(set(request.entries))


@settings(max_examples=200, deadline=None)
@given(ranges=ranges, max_request=st.integers(1, 4000), gap=st.integers(0, 500))
def test_requests_follow_the_order_of_the_ranges(ranges, max_request, gap):
    """The first request carrying range i comes no later than the first carrying range i+1: fetching in
    request order serves the reader in its order."""
    requests = plan_requests(ranges, max_request, gap)
    first = {}
    for position, request in enumerate(requests):
        for index in request.entries:
            first.setdefault(index, position)
    order = [first[index] for index in sorted(first)]
    assert order == sorted(order)


def test_neighbours_share_a_request_and_big_ranges_are_cut():
    assert plan_requests([(0, 100), (150, 300), (300, 400)], max_request=1000, gap=64) == [
        PlannedRequest(0, 400, [0, 1, 2])
    ]
    assert plan_requests([(0, 100), (200, 300)], max_request=1000, gap=64) == [
        PlannedRequest(0, 100, [0]),
        PlannedRequest(200, 300, [1]),
    ]
    assert plan_requests([(0, 2500)], max_request=1000, gap=0) == [
        PlannedRequest(0, 1000, [0]),
        PlannedRequest(1000, 2000, [0]),
        PlannedRequest(2000, 2500, [0]),
    ]
    # a range going back in the file starts a new request, even when it overlaps an earlier one
    assert plan_requests([(500, 600), (400, 550)], max_request=1000, gap=64) == [
        PlannedRequest(500, 600, [0]),
        PlannedRequest(400, 550, [1]),
    ]
    assert plan_requests([(10, 10), (0, 0)], max_request=1, gap=0) == []


def test_a_cap_below_one_byte_is_refused():
    with pytest.raises(ValueError, match="max_request"):
        plan_requests([(0, 10)], max_request=0, gap=0)
