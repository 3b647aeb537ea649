/* The core of HighwayHash-64 with AVX2 (see _highwayhash_avx2.c, which exposes it to Python), shared by the
 * extensions that hash what they read: a state reset with a key, bytes fed in any parts (hh_feed, or hh_copy_feed,
 * which also copies them; the last bytes of a part short of a 32-byte packet carried to the next), and the final
 * hash (hh_finish64). HH_HAVE_AVX2 says whether the compiler can build it; cpu_has_avx2() whether this CPU runs
 * it. Static functions only: each extension that includes it gets its own copy. */
#ifndef PROTO_SPLITTER_HIGHWAYHASH_CORE_H
#define PROTO_SPLITTER_HIGHWAYHASH_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HH_HAVE_AVX2 1
#include <immintrin.h>
#else
#define HH_HAVE_AVX2 0
#endif

#if HH_HAVE_AVX2

#define HH_TARGET __attribute__((target("avx2")))

typedef struct {
    __m256i v0, v1, mul0, mul1;
} HHState;

HH_TARGET static inline __m256i zipper_merge(__m256i v) {
    /* Byte order within each 128-bit half (two lanes) after the zipper merge of the two lanes. */
    const __m256i order = _mm256_setr_epi8(3, 12, 2, 5, 14, 1, 15, 0, 11, 4, 10, 13, 9, 6, 8, 7,
                                           3, 12, 2, 5, 14, 1, 15, 0, 11, 4, 10, 13, 9, 6, 8, 7);
    return _mm256_shuffle_epi8(v, order);
}

HH_TARGET static inline void hh_update(HHState *s, __m256i packet) {
    s->v1 = _mm256_add_epi64(s->v1, _mm256_add_epi64(s->mul0, packet));
    s->mul0 = _mm256_xor_si256(s->mul0, _mm256_mul_epu32(s->v1, _mm256_srli_epi64(s->v0, 32)));
    s->v0 = _mm256_add_epi64(s->v0, s->mul1);
    s->mul1 = _mm256_xor_si256(s->mul1, _mm256_mul_epu32(s->v0, _mm256_srli_epi64(s->v1, 32)));
    s->v0 = _mm256_add_epi64(s->v0, zipper_merge(s->v1));
    s->v1 = _mm256_add_epi64(s->v1, zipper_merge(s->v0));
}

HH_TARGET static void hh_reset(HHState *s, const uint64_t key[4]) {
    const __m256i k = _mm256_loadu_si256((const __m256i *)key);
    s->mul0 = _mm256_setr_epi64x((long long)0xdbe6d5d5fe4cce2fULL, (long long)0xa4093822299f31d0ULL,
                                 (long long)0x13198a2e03707344ULL, (long long)0x243f6a8885a308d3ULL);
    s->mul1 = _mm256_setr_epi64x((long long)0x3bd39e10cb0ef593ULL, (long long)0xc0acf169b5f18a8cULL,
                                 (long long)0xbe5466cf34e90c6cULL, (long long)0x452821e638d01377ULL);
    s->v0 = _mm256_xor_si256(s->mul0, k);
    /* Each key lane with its 32-bit halves swapped. */
    s->v1 = _mm256_xor_si256(s->mul1, _mm256_shuffle_epi32(k, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* The last size % 32 bytes (0 < n < 32): the length goes into v0, rotates v1's 32-bit halves, and the bytes are
 * packed into one packet as the algorithm specifies (whole 4-byte words first, then up to 4 more bytes). */
HH_TARGET static void hh_update_remainder(HHState *s, const uint8_t *bytes, size_t n) {
    uint8_t packet[32] = {0};
    const size_t whole = n & ~(size_t)3, tail = n & 3;
    const uint8_t *rest = bytes + whole;
    const __m128i count = _mm_cvtsi32_si128((int)n);
    s->v0 = _mm256_add_epi64(s->v0, _mm256_set1_epi64x((long long)(((uint64_t)n << 32) + n)));
    s->v1 = _mm256_or_si256(_mm256_sll_epi32(s->v1, count),
                            _mm256_srl_epi32(s->v1, _mm_cvtsi32_si128(32 - (int)n)));
    memcpy(packet, bytes, whole);
    if (n & 16) {
        memcpy(packet + 28, rest + tail - 4, 4);
    } else if (tail) {
        packet[16] = rest[0];
        packet[17] = rest[tail >> 1];
        packet[18] = rest[tail - 1];
    }
    hh_update(s, _mm256_loadu_si256((const __m256i *)packet));
}

/* Feeds bytes to the state in whole packets; the last size % 32 bytes wait in `carry` (`*carried` of them) for the
 * next bytes or the end, so that parts of a message hash as their concatenation. With `copy_to` (else NULL), also
 * copies them there on the way, each packet stored as it is loaded for the hash: one pass over memory where a copy
 * and then a hash make two, and plain vector stores, whatever the two addresses' alignment (the kernel's and
 * glibc's `rep movsb` copies run several times slower on some CPUs when the destination is a few bytes ahead of
 * the source within a cache line). Inlined, so that hh_feed's calls have no copy in their loop. */
HH_TARGET static inline __attribute__((always_inline)) void hh_copy_feed(HHState *s, uint8_t carry[32],
                                                                         size_t *carried, uint8_t *copy_to,
                                                                         const uint8_t *data, size_t size) {
    if (*carried) {
        size_t take = 32 - *carried < size ? 32 - *carried : size;
        memcpy(carry + *carried, data, take);
        if (copy_to) {
            memcpy(copy_to, data, take);
            copy_to += take;
        }
        *carried += take;
        data += take;
        size -= take;
        if (*carried < 32) return;
        hh_update(s, _mm256_loadu_si256((const __m256i *)carry));
        *carried = 0;
    }
    const size_t whole = size & ~(size_t)31;
    for (size_t i = 0; i < whole; i += 32) {
        const __m256i packet = _mm256_loadu_si256((const __m256i *)(data + i));
        if (copy_to) _mm256_storeu_si256((__m256i *)(copy_to + i), packet);
        hh_update(s, packet);
    }
    memcpy(carry, data + whole, size - whole);
    if (copy_to) memcpy(copy_to + whole, data + whole, size - whole);
    *carried = size - whole;
}

HH_TARGET static inline void hh_feed(HHState *s, uint8_t carry[32], size_t *carried, const uint8_t *data, size_t size) {
    hh_copy_feed(s, carry, carried, NULL, data, size);
}

HH_TARGET static uint64_t hh_finish64(HHState *s, const uint8_t carry[32], size_t carried) {
    if (carried) {
        hh_update_remainder(s, carry, carried);
    }
    /* Four rounds on v0 with its lanes permuted (2, 3, 0, 1) and each lane's 32-bit halves swapped. */
    const __m256i permutation = _mm256_setr_epi32(5, 4, 7, 6, 1, 0, 3, 2);
    for (int round = 0; round < 4; ++round) {
        hh_update(s, _mm256_permutevar8x32_epi32(s->v0, permutation));
    }
    const __m256i sum = _mm256_add_epi64(_mm256_add_epi64(s->v0, s->v1), _mm256_add_epi64(s->mul0, s->mul1));
    return (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(sum));
}

static int cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

#else

static int cpu_has_avx2(void) { return 0; }

#endif

#endif /* PROTO_SPLITTER_HIGHWAYHASH_CORE_H */
