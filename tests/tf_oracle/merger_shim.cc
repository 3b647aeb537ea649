// Reaches TensorFlow's C++ proto_splitter::Merger (compiled into libtensorflow_framework.so.2 of the
// tensorflow-cpu wheel, together with Google's Riegeli reader) from Python through ctypes, for any message
// type handed over as a serialized FileDescriptorSet. Built by tests/tf_oracle/child.py on first use.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"

namespace tensorflow {
namespace tools {
namespace proto_splitter {
// The one entry point used here, declared as in tensorflow/tools/proto_splitter/merge.h.
class Merger {
 public:
  static absl::Status Read(std::string prefix, google::protobuf::Message* merged_message);
};
}  // namespace proto_splitter
}  // namespace tools
}  // namespace tensorflow

namespace {
void Report(char* error, size_t error_size, const std::string& text) {
  std::snprintf(error, error_size, "%s", text.c_str());
}
}  // namespace

// Merges `prefix`.cpb (or reads `prefix`.pb) into a message of `type_name`. With `out` null, only the merged
// size is returned (works past 2 GiB); otherwise the serialized message, to be freed with shim_free.
// Returns 0 on success, 1 for a bad request, 2 when TensorFlow's Merger fails, 3 when serializing fails.
extern "C" int shim_merger_read(const char* descriptors, size_t descriptors_size, const char* type_name,
                                const char* prefix, char** out, size_t* out_size, char* error,
                                size_t error_size) {
  google::protobuf::FileDescriptorSet files;
  if (!files.ParseFromArray(descriptors, static_cast<int>(descriptors_size))) {
    Report(error, error_size, "the descriptor set does not parse");
    return 1;
  }
  google::protobuf::DescriptorPool pool;
  for (const auto& file : files.file()) {
    if (pool.BuildFile(file) == nullptr) {
      Report(error, error_size, "cannot build " + file.name());
      return 1;
    }
  }
  const google::protobuf::Descriptor* type = pool.FindMessageTypeByName(type_name);
  if (type == nullptr) {
    Report(error, error_size, std::string("no message type ") + type_name);
    return 1;
  }
  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> message(factory.GetPrototype(type)->New());
  absl::Status status = tensorflow::tools::proto_splitter::Merger::Read(prefix, message.get());
  if (!status.ok()) {
    Report(error, error_size, std::string(status.ToString()));
    return 2;
  }
  if (out == nullptr) {
    *out_size = message->ByteSizeLong();
    return 0;
  }
  std::string serialized;
  if (!message->SerializeToString(&serialized)) {
    Report(error, error_size, "the merged message does not serialize (over 2 GiB?)");
    return 3;
  }
  *out = static_cast<char*>(std::malloc(serialized.size()));
  std::memcpy(*out, serialized.data(), serialized.size());
  *out_size = serialized.size();
  return 0;
}

extern "C" void shim_free(char* data) { std::free(data); }
