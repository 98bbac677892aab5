// Private to the spec loader: safe reading of a spec file and YAML -> JSON with
// the source position of every node.
//
// The YAML is parsed with yaml-cpp's event API (never YAML::Load), so the tree is
// built here, iteratively, with the checks yaml-cpp does not make: duplicate keys,
// anchors/aliases, tags, nesting depth, value length, one document only. Scalars
// are typed per the YAML 1.2 core schema (so `yes` is a string, not a boolean).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shmcheck/harness/spec.hpp"

namespace shmcheck::harness::detail {

// A bound on any one scalar, in bytes: 4 per character of the longest string the
// schema allows (a 4096-character description), so the schema's limit, in
// characters, is the one a user meets; 3000 'é' (6000 bytes) were refused here.
inline constexpr std::size_t kMaxScalarBytes = 4 * 4096;

// One problem found while loading; `pointer` is the JSON pointer of the node it is
// about ("" = document root; empty and mark 0 = the whole file).
struct Diag {
  SourceMark mark;
  std::string message;
  std::string pointer;
};

struct Document {
  nlohmann::json root;
  // JSON pointer -> position of the node (its value) and of the key naming it.
  std::unordered_map<std::string, SourceMark> value_marks;
  std::unordered_map<std::string, SourceMark> key_marks;
};

// Reads a regular file of at most kMaxSpecBytes without ever blocking (O_NONBLOCK
// open, fstat before read). On failure appends a file-level Diag.
[[nodiscard]] std::optional<std::string> read_spec_bytes(const std::string& path,
                                                         std::vector<Diag>& diags);

// Size, BOM, UTF-8 and control-byte checks, then YAML parsing. Returns the
// document unless a fatal problem stopped parsing; it may still have added
// Diags about single nodes (duplicate keys, numbers out of range), which the
// caller reports along with its own.
[[nodiscard]] std::optional<Document> parse_spec_yaml(std::string_view bytes,
                                                      std::vector<Diag>& diags);

// Validates a document against the compiled-in JSON schema; returns (JSON
// pointer, description) per violation, empty when it conforms.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> schema_violations(
    const nlohmann::json& document);

// "/objects/0/name" from parent "/objects/0" and key "name" (RFC 6901 escaping).
[[nodiscard]] std::string child_pointer(const std::string& parent, std::string_view key);
[[nodiscard]] std::string child_pointer(const std::string& parent, std::size_t index);

}  // namespace shmcheck::harness::detail
