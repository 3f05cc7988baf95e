// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The service-definition store on real files: what a Hello loads follows
// every change on disk, although unchanged files are served from memory.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "rp/broker/service_definitions.h"
#include "rp/platform/host.h"
#include "support/temp_dir.h"

namespace rp::broker {
namespace {

pb::ServiceDefinition Definition(const std::string& binary) {
  pb::ServiceDefinition def;
  def.set_service_name("echo");
  def.set_binary_path(binary);
  return def;
}

std::string LoadedBinary(const ServiceDefinitionStore& store) {
  auto loaded = store.Load("echo");
  if (auto* error = std::get_if<ServiceDefinitionError>(&loaded)) {
    return (error->not_found ? "not found: " : "error: ") + error->text;
  }
  return std::get<ServiceDefinitionStore::SharedDefinition>(loaded)->binary_path();
}

TEST(ServiceDefinitionStore, EveryLoadSeesTheFileAsItIsNow) {
  test::TempDir dir;
  ServiceDefinitionStore store(dir.File("services"));
  const bool windows = platform::CurrentOs() == platform::OsFlavor::kWindows;
  const std::string first = windows ? "C:\\first.exe" : "/opt/first";
  const std::string second = windows ? "C:\\secnd.exe" : "/opt/secnd";  // same length
  ASSERT_TRUE(std::holds_alternative<std::string>(store.Install(Definition(first))));
  EXPECT_EQ(LoadedBinary(store), first);
  EXPECT_EQ(LoadedBinary(store), first);  // from memory now

  // An atomic replace by `servicedef install`.
  ASSERT_TRUE(std::holds_alternative<std::string>(store.Install(Definition(second))));
  EXPECT_EQ(LoadedBinary(store), second);

  // Overwritten in place with something else entirely.
  {
    std::ofstream out(store.PathFor("echo"), std::ios::binary | std::ios::trunc);
    out << "not a service definition at all";
  }
  EXPECT_EQ(LoadedBinary(store).rfind("error: service-definition protobuf decode failed", 0), 0u)
      << LoadedBinary(store);

  std::filesystem::remove(store.PathFor("echo"));
  EXPECT_EQ(LoadedBinary(store).rfind("not found: ", 0), 0u) << LoadedBinary(store);
}

}  // namespace
}  // namespace rp::broker
