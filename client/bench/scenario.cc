#include "client/bench/scenario.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace profile::bench {
namespace {

using Factory = std::unique_ptr<Scenario> (*)(const BenchOptions&,
                                              Connections*);

struct Entry {
  const char* name;
  Factory factory;
};

// One entry per scenario, in the order the usage lists them.
constexpr Entry kScenarios[] = {
    {"health", &NewHealthScenario}, {"get", &NewGetScenario},
    {"verify", &NewVerifyScenario}, {"flow", &NewFlowScenario},
    {"send", &NewSendScenario},
};

// "health, get, verify, flow or send".
std::string ScenarioNames() {
  std::vector<std::string> names;
  for (const Entry& entry : kScenarios) names.push_back(entry.name);
  const std::string last = names.back();
  names.pop_back();
  return absl::StrCat(absl::StrJoin(names, ", "), " or ", last);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scenario>> NewScenario(
    absl::string_view name, const BenchOptions& options,
    Connections* connections) {
  for (const Entry& entry : kScenarios) {
    if (name == entry.name) return entry.factory(options, connections);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--scenario must be ", ScenarioNames()));
}

}  // namespace profile::bench
