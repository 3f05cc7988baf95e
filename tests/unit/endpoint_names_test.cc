// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// Name grammars, canonical names and per-OS addresses (spec §3.2, §4.6;
// catalogue names.rs). EndpointAddress takes the OS as a value, so every
// flavour is checked on every host.

#include "rp/transport/endpoint_names.h"

#include <array>
#include <set>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace rp::transport {
namespace {

using platform::OsFlavor;

constexpr char kHash[] = "deadbeefdeadbeef";

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(EndpointNamesTest, ServiceNameGrammar) {
  for (std::string_view good :
       {"zccache", "a", "svc-with-dashes", "0123456789", "-leading", "trailing-", "a--b"}) {
    EXPECT_TRUE(IsValidServiceName(good)) << good;
  }
  EXPECT_TRUE(IsValidServiceName(std::string(64, 'a')));
  for (std::string_view bad : {"", "UPPER", "Zccache", "with space", "dots.are.bad",
                               "under_score", "slash/x", "back\\slash", "semi;colon",
                               "emoji-rocket-\xF0\x9F\x9A\x80"}) {
    EXPECT_FALSE(IsValidServiceName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidServiceName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidServiceName(std::string_view("a\0b", 3)));
}

TEST(EndpointNamesTest, VersionGrammar) {
  for (std::string_view good :
       {"1.0.0", "1.11.20", "0.0.1-alpha.1", "2.3.4-rc.1.beta", "01.002.0003", "1.0.0-0"}) {
    EXPECT_TRUE(IsValidVersion(good)) << good;
  }
  for (std::string_view bad : {"", "1.0", "1.0.0.0", "v1.0.0", "1.0.0-", "1.0.0-ALPHA",
                               "1.0.0-rc-1", "1.0.0+build", ".1.0", "1..0", "1.0.", "a.b.c",
                               " 1.0.0", "1.0.0 ", "-1.0.0", "1.0.0-rc_1"}) {
    EXPECT_FALSE(IsValidVersion(bad)) << bad;
  }
}

TEST(EndpointNamesTest, VersionIsAtMost64Bytes) {
  const std::string at_cap = "1.0.0-" + std::string(58, 'a');
  ASSERT_EQ(at_cap.size(), 64u);
  EXPECT_TRUE(IsValidVersion(at_cap));
  EXPECT_FALSE(IsValidVersion(at_cap + "a"));
}

TEST(EndpointNamesTest, UserHashGrammar) {
  EXPECT_TRUE(IsValidUserHash("deadbeefdeadbeef"));
  EXPECT_TRUE(IsValidUserHash("0123456789abcdef"));
  for (std::string_view bad : {"not-16-chars", "ZZZZZZZZZZZZZZZZ", "DEADBEEFDEADBEEF",
                               "deadbeefdeadbee", "deadbeefdeadbeef0", "deadbeefdeadbeeg", ""}) {
    EXPECT_FALSE(IsValidUserHash(bad)) << bad;
  }
}

TEST(EndpointNamesTest, Blake3KnownAnswers) {
  // The empty-input vector from the BLAKE3 test suite; "abc" via b3sum.
  EXPECT_EQ(ToLowerHex(Blake3({})),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  EXPECT_EQ(ToLowerHex(Blake3(AsBytes("abc"))),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
}

TEST(EndpointNamesTest, UserHashFromIdentity) {
  // Expected values computed offline with b3sum 1.2.0:
  //   printf '%s' '1000:0123456789abcdef0123456789abcdef' | b3sum --no-names | cut -c1-16
  EXPECT_EQ(UserHashFromIdentity("1000:0123456789abcdef0123456789abcdef"), "9bfab56ad37b16cc");
  //   printf '%s' 'windows-sid:0105...e9030000' | b3sum --no-names | cut -c1-16
  EXPECT_EQ(UserHashFromIdentity(
                "windows-sid:010500000000000515000000a1b2c3d4e5f60718293a4b5ce9030000"),
            "f7732b56c847c47a");

  const std::string hash = UserHashFromIdentity("1000:machine");
  EXPECT_TRUE(IsValidUserHash(hash));
  EXPECT_EQ(hash, UserHashFromIdentity("1000:machine"));
  EXPECT_NE(hash, UserHashFromIdentity("1001:machine"));
}

TEST(EndpointNamesTest, ToLowerHex) {
  const std::array<std::uint8_t, 4> bytes = {0x00, 0x0F, 0xA0, 0xFF};
  EXPECT_EQ(ToLowerHex(bytes), "000fa0ff");
  EXPECT_EQ(ToLowerHex({}), "");
}

TEST(EndpointNamesTest, TheFourNames) {
  EXPECT_EQ(SharedBrokerName(kHash).value(), "rpb-v1-deadbeefdeadbeef-shared");
  EXPECT_EQ(PrivateBrokerName(kHash, "zccache").value(), "rpb-v1-deadbeefdeadbeef-svc-zccache");
  EXPECT_EQ(InstanceBrokerName(kHash, "ci-trusted").value(),
            "rpb-v1-deadbeefdeadbeef-inst-ci-trusted");
  std::array<std::uint8_t, 16> random{};
  random.fill(0xAB);
  EXPECT_EQ(BackendName(kHash, random).value(),
            "rpb-v1-deadbeefdeadbeef-be-abababababababababababababababab");
}

TEST(EndpointNamesTest, BackendNameHexIsLowercaseAndOrdered) {
  std::array<std::uint8_t, 16> random{};
  for (std::size_t i = 0; i < random.size(); ++i) random[i] = static_cast<std::uint8_t>(i * 17);
  EXPECT_EQ(BackendName(kHash, random).value(),
            "rpb-v1-deadbeefdeadbeef-be-00112233445566778899aabbccddeeff");
}

TEST(EndpointNamesTest, NamesRejectBadInput) {
  EXPECT_EQ(PrivateBrokerName(kHash, "Zccache").error().kind, NameError::Kind::kInvalidService);
  EXPECT_EQ(PrivateBrokerName(kHash, "").error().kind, NameError::Kind::kInvalidService);
  EXPECT_EQ(PrivateBrokerName(kHash, std::string(65, 'a')).error().kind,
            NameError::Kind::kInvalidService);
  EXPECT_EQ(InstanceBrokerName(kHash, "ci.trusted").error().kind,
            NameError::Kind::kInvalidInstance);
  for (std::string_view bad_hash : {"not-16-chars", "ZZZZZZZZZZZZZZZZ"}) {
    EXPECT_EQ(SharedBrokerName(bad_hash).error().kind, NameError::Kind::kInvalidUserHash);
    EXPECT_EQ(PrivateBrokerName(bad_hash, "zccache").error().kind,
              NameError::Kind::kInvalidUserHash);
    EXPECT_EQ(InstanceBrokerName(bad_hash, "x").error().kind, NameError::Kind::kInvalidUserHash);
    std::array<std::uint8_t, 16> random{};
    EXPECT_EQ(BackendName(bad_hash, random).error().kind, NameError::Kind::kInvalidUserHash);
  }
}

TEST(EndpointNamesTest, LinuxAddressUnderRuntimeDir) {
  auto address =
      EndpointAddress(OsFlavor::kLinux, "/run/user/1000", 1000, "rpb-v1-abc-shared");
  ASSERT_TRUE(address.has_value()) << address.error().message();
  EXPECT_EQ(*address, "/run/user/1000/running-process/broker/rpb-v1-abc-shared.sock");
  EXPECT_NE(address->find("rpb-v1-abc-shared"), std::string::npos);
  EXPECT_NE(address->find("/broker/"), std::string::npos);
  EXPECT_TRUE(address->ends_with("-shared.sock"));

  // A trailing slash on the runtime directory does not double up.
  EXPECT_EQ(EndpointAddress(OsFlavor::kLinux, "/run/user/1000/", 1000, "n").value(),
            "/run/user/1000/running-process/broker/n.sock");
}

TEST(EndpointNamesTest, LinuxFallsBackToTmp) {
  EXPECT_EQ(EndpointAddress(OsFlavor::kLinux, std::nullopt, 1000, "rpb-v1-abc-shared").value(),
            "/tmp/running-process-1000/broker/rpb-v1-abc-shared.sock");
  EXPECT_EQ(EndpointAddress(OsFlavor::kLinux, std::string(), 42, "n").value(),
            "/tmp/running-process-42/broker/n.sock");
}

TEST(EndpointNamesTest, LinuxPathMustFitSunPath) {
  const std::string dir = "/run/user/1000";
  const std::string prefix = dir + "/running-process/broker/";
  const std::string fits(107 - prefix.size() - 5, 'n');
  auto ok = EndpointAddress(OsFlavor::kLinux, dir, 1000, fits);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->size(), 107u);

  auto too_long = EndpointAddress(OsFlavor::kLinux, dir, 1000, fits + "n");
  ASSERT_TRUE(too_long.has_error());
  EXPECT_EQ(too_long.error().kind, NameError::Kind::kPathTooLong);
  EXPECT_EQ(too_long.error().length, 108u);
  EXPECT_EQ(too_long.error().max, 107u);
  EXPECT_EQ(too_long.error().label, "Linux sun_path");
  EXPECT_NE(too_long.error().message().find("Linux sun_path"), std::string::npos);
}

TEST(EndpointNamesTest, MacAddressHashesTheName) {
  // Leaf computed offline with b3sum 1.2.0:
  //   printf '%s' 'rpb-v1-deadbeefdeadbeef-shared' | b3sum --no-names | cut -c1-16
  auto address = EndpointAddress(OsFlavor::kMacOS, std::nullopt, 501,
                                 "rpb-v1-deadbeefdeadbeef-shared");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(*address, "/tmp/.rp-501/ca2bb7f9ae4dff58.sock");

  // TMPDIR as macOS sets it, with a trailing slash.
  EXPECT_EQ(EndpointAddress(OsFlavor::kMacOS, "/var/folders/zz/abc123/T/", 501,
                            "rpb-v1-deadbeefdeadbeef-svc-zccache")
                .value(),
            "/var/folders/zz/abc123/T/.rp-501/c5c53accdf467d45.sock");
}

TEST(EndpointNamesTest, MacLeafIsAlways21Characters) {
  const std::string tmpdir = "/var/folders/xx/yyyyyyyyyyyyyyyyyyyyyyyyyyyy/T/";
  std::array<std::uint8_t, 16> random{};
  random.fill(0xAB);
  const std::array<std::string, 4> names = {
      SharedBrokerName(kHash).value(), PrivateBrokerName(kHash, std::string(64, 's')).value(),
      InstanceBrokerName(kHash, std::string(64, 'i')).value(), BackendName(kHash, random).value()};
  std::set<std::string> seen;
  for (const std::string& name : names) {
    auto address = EndpointAddress(OsFlavor::kMacOS, tmpdir, 501, name);
    ASSERT_TRUE(address.has_value()) << name;
    EXPECT_LT(address->size(), 104u);
    const std::string leaf = address->substr(address->rfind('/') + 1);
    EXPECT_EQ(leaf.size(), 21u) << leaf;
    EXPECT_TRUE(leaf.ends_with(".sock"));
    EXPECT_TRUE(IsValidUserHash(leaf.substr(0, 16))) << leaf;  // 16 lowercase hex
    seen.insert(*address);
  }
  EXPECT_EQ(seen.size(), 4u);
}

TEST(EndpointNamesTest, MacPathMustFitSunPath) {
  // "{dir}/.rp-501/" + 21-character leaf.
  const std::size_t fixed = std::string("/.rp-501/").size() + 21;
  const std::string fits_dir = "/" + std::string(103 - fixed - 1, 't');
  auto ok = EndpointAddress(OsFlavor::kMacOS, fits_dir, 501, "n");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->size(), 103u);

  auto too_long = EndpointAddress(OsFlavor::kMacOS, fits_dir + "t", 501, "n");
  ASSERT_TRUE(too_long.has_error());
  EXPECT_EQ(too_long.error().kind, NameError::Kind::kPathTooLong);
  EXPECT_EQ(too_long.error().length, 104u);
  EXPECT_EQ(too_long.error().max, 103u);
  EXPECT_EQ(too_long.error().label, "macOS sun_path");
}

TEST(EndpointNamesTest, WindowsAddressIsAPipe) {
  EXPECT_EQ(EndpointAddress(OsFlavor::kWindows, std::nullopt, 0,
                            "rpb-v1-deadbeefdeadbeef-shared")
                .value(),
            "\\\\.\\pipe\\rpb-v1-deadbeefdeadbeef-shared");
  // A prefixed input is not prefixed twice.
  EXPECT_EQ(EndpointAddress(OsFlavor::kWindows, std::nullopt, 0, "//./PIPE/x").value(),
            "\\\\.\\pipe\\x");

  const std::string service_pipe =
      EndpointAddress(OsFlavor::kWindows, "C:\\ignored", 0,
                      PrivateBrokerName(kHash, std::string(64, 'a')).value())
          .value();
  EXPECT_LE(service_pipe.size(), 260u);
  EXPECT_EQ(service_pipe.find("\\\\?\\"), std::string::npos);
}

TEST(EndpointNamesTest, WindowsPathMustFitMaxPath) {
  const std::string fits(260 - 9, 'p');
  auto ok = EndpointAddress(OsFlavor::kWindows, std::nullopt, 0, fits);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->size(), 260u);

  auto too_long = EndpointAddress(OsFlavor::kWindows, std::nullopt, 0, fits + "p");
  ASSERT_TRUE(too_long.has_error());
  EXPECT_EQ(too_long.error().kind, NameError::Kind::kPathTooLong);
  EXPECT_EQ(too_long.error().length, 261u);
  EXPECT_EQ(too_long.error().max, 260u);
  EXPECT_EQ(too_long.error().label, "Windows MAX_PATH");
}

TEST(EndpointNamesTest, StripPipePrefix) {
  EXPECT_EQ(StripPipePrefix("\\\\.\\pipe\\rpb-v1-x"), "rpb-v1-x");
  EXPECT_EQ(StripPipePrefix("//./pipe/rpb-v1-x"), "rpb-v1-x");
  EXPECT_EQ(StripPipePrefix("\\\\.\\PIPE\\rpb-v1-x"), "rpb-v1-x");
  EXPECT_EQ(StripPipePrefix("//./PiPe/rpb-v1-x"), "rpb-v1-x");
  EXPECT_EQ(StripPipePrefix("\\\\./pipe\\mixed"), "mixed");
  EXPECT_EQ(StripPipePrefix("rpb-v1-x"), "rpb-v1-x");
  EXPECT_EQ(StripPipePrefix("\\\\?\\pipe\\x"), "\\\\?\\pipe\\x");
  EXPECT_EQ(StripPipePrefix("\\\\.\\pipex"), "\\\\.\\pipex");
  EXPECT_EQ(StripPipePrefix("\\\\.\\pipe\\"), "");
  EXPECT_EQ(StripPipePrefix(""), "");
  // Only the prefix is touched.
  EXPECT_EQ(StripPipePrefix("//./pipe/A/b"), "A/b");
}

TEST(EndpointNamesTest, ErrorsThrowThroughValue) {
  auto bad = SharedBrokerName("nope");
  EXPECT_THROW((void)bad.value(), std::runtime_error);
  EXPECT_FALSE(bad.error().message().empty());
}

TEST(EndpointNamesTest, CurrentUserHashMatchesThePlatformIdentity) {
  auto identity = platform::CurrentUserIdentityString();
  auto hash = CurrentUserHash();
  if (!identity) {
    EXPECT_EQ(hash.error().kind, NameError::Kind::kNoIdentity);
    GTEST_SKIP() << "no user identity on this host: " << identity.error().message();
  }
  ASSERT_TRUE(hash.has_value());
  EXPECT_TRUE(IsValidUserHash(*hash));
  EXPECT_EQ(*hash, UserHashFromIdentity(*identity));
}

TEST(EndpointNamesTest, CurrentAddressesUseThePlatformFacts) {
  const std::string name = "rpb-v1-deadbeefdeadbeef-shared";
  auto expected = EndpointAddress(platform::CurrentOs(),
                                  platform::RuntimeDirectoryFromEnvironment(),
                                  platform::CurrentUid(), name);
  auto actual = CurrentAddressForName(name);
  ASSERT_EQ(actual.has_value(), expected.has_value());
  if (actual.has_value()) {
    EXPECT_EQ(*actual, *expected);
  }

  auto hash = CurrentUserHash();
  if (!hash) GTEST_SKIP() << "no user identity on this host";
  auto shared = CurrentSharedBrokerAddress();
  if (!shared) {
    EXPECT_EQ(shared.error().kind, NameError::Kind::kPathTooLong);
    GTEST_SKIP() << shared.error().message();
  }
  EXPECT_EQ(*shared, CurrentAddressForName(SharedBrokerName(*hash).value()).value());
  if (platform::CurrentOs() != OsFlavor::kMacOS) {
    EXPECT_NE(shared->find("rpb-v1-" + *hash + "-shared"), std::string::npos);
  }
}

}  // namespace
}  // namespace rp::transport
