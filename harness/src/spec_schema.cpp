// The compiled-in JSON schema (specs/schema/shmcheck.schema.json) and validation
// against it. A file of its own: valijson's templates are the heaviest part of the
// loader to compile, and here they build in parallel with the rest of it.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "shmcheck/harness/spec_loader.hpp"
#include "spec_schema_data.hpp"
#include "spec_yaml.hpp"

namespace shmcheck::harness {
namespace {

using Json = nlohmann::json;

const valijson::Schema& compiled_schema() {
  static const std::unique_ptr<valijson::Schema> schema = [] {
    auto s = std::make_unique<valijson::Schema>();
    const Json document = Json::parse(detail::kSpecSchemaJson);
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    const valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, *s);
    return s;
  }();
  return *schema;
}

// valijson context ["<root>", "[objects]", "[0]"] -> "/objects/0".
std::string context_pointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string_view key = part;
    if (key.size() >= 2 && key.front() == '[' && key.back() == ']') {
      key = key.substr(1, key.size() - 2);
    }
    pointer = detail::child_pointer(pointer, key);
  }
  return pointer;
}

// valijson reads every integer as an int64: 2^63 .. 2^64-1 (a seed, an `after`, which
// the loader takes) wrapped negative and broke "minimum: 0". They are checked as
// INT64_MAX, which every bound in the schema orders alike.
bool huge(const Json& value) {
  return value.is_number_unsigned() &&
         value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX);
}

bool any_huge_integer(const Json& value) {
  if (huge(value)) return true;
  if (!value.is_structured()) return false;
  return std::any_of(value.begin(), value.end(), [](const Json& v) { return any_huge_integer(v); });
}

void clamp_huge_integers(Json& value) {
  if (huge(value)) value = INT64_MAX;
  if (value.is_structured()) {
    for (auto& child : value) clamp_huge_integers(child);
  }
}

}  // namespace

namespace detail {
std::vector<std::pair<std::string, std::string>> schema_violations(const nlohmann::json& document) {
  // One validator per thread: it caches the compiled std::regex of each pattern,
  // which costs more to build than a whole validation.
  thread_local valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  std::optional<Json> clamped;
  if (any_huge_integer(document)) {
    clamped = document;
    clamp_huge_integers(*clamped);
  }
  const valijson::adapters::NlohmannJsonAdapter target(clamped ? *clamped : document);
  std::vector<std::pair<std::string, std::string>> found;
  if (validator.validate(compiled_schema(), target, &results)) return found;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) found.emplace_back(context_pointer(e.context), e.description);
  return found;
}
}  // namespace detail

std::string_view spec_schema_text() noexcept { return detail::kSpecSchemaJson; }

}  // namespace shmcheck::harness
