// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// The frozen numbers of the v1 wire and the payload-protocol registry
// (spec §1.1, §1.7; catalogue §1 registry.rs).

#include "rp/transport/wire_constants.h"

#include <set>

#include <gtest/gtest.h>

namespace rp::transport {
namespace {

// What a consumer registration would assert at compile time.
static_assert(IsValidConsumerPayloadProtocol(0x7001));
static_assert(IsValidConsumerPayloadProtocol(0xF00D));
static_assert(!IsValidConsumerPayloadProtocol(0xAD01));
static_assert(!IsValidConsumerPayloadProtocol(kControlPayloadProtocol));
static_assert(!IsValidConsumerPayloadProtocol(kSessionPayloadProtocol));
static_assert(IsValidConsumerPayloadProtocol(kZccachePayloadProtocol));

TEST(WireConstantsTest, VersionsAndSizes) {
  EXPECT_EQ(kFramingVersion, 1);
  EXPECT_EQ(kProtocolVersion, 1u);
  EXPECT_EQ(kFrameHeaderBytes, 5u);
  EXPECT_EQ(kMaxFrameBytes, 16u * 1024 * 1024);
  EXPECT_EQ(kMaxFrameBytes, 16777216u);
  EXPECT_EQ(kMaxHelloBytes, 64u * 1024);
  EXPECT_EQ(kMaxHelloBytes, 65536u);
  EXPECT_EQ(kMaxLifecycleEventBytes, 512u);
  EXPECT_EQ(kCapHandlePassing, 1u);
}

TEST(WireConstantsTest, FirstPartyIdsAreDistinct) {
  EXPECT_EQ(kControlPayloadProtocol, 0x0000u);
  EXPECT_EQ(kAdminPayloadProtocol, 0xAD01u);
  EXPECT_EQ(kProbePayloadProtocol, 0xB232u);
  EXPECT_EQ(kHandoffPayloadProtocol, 0xD0FFu);
  const std::set<std::uint32_t> ids(kFirstPartyPayloadProtocols.begin(),
                                    kFirstPartyPayloadProtocols.end());
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids, (std::set<std::uint32_t>{0x0000, 0xAD01, 0xB232, 0xD0FF}));
}

TEST(WireConstantsTest, SessionLaneIsNotFirstParty) {
  EXPECT_EQ(kSessionPayloadProtocol, 0x5350u);
  EXPECT_FALSE(IsFirstPartyPayloadProtocol(kSessionPayloadProtocol));
}

TEST(WireConstantsTest, Ranges) {
  EXPECT_FALSE(IsRegisteredConsumerId(0x6FFF));
  EXPECT_TRUE(IsRegisteredConsumerId(0x7000));
  EXPECT_TRUE(IsRegisteredConsumerId(0x7EFF));
  EXPECT_FALSE(IsRegisteredConsumerId(0x7F00));
  EXPECT_FALSE(IsPrivateUseId(0xEFFF));
  EXPECT_TRUE(IsPrivateUseId(0xF000));
  EXPECT_TRUE(IsPrivateUseId(0xFFFF));
  EXPECT_FALSE(IsPrivateUseId(0x10000));
}

TEST(WireConstantsTest, RegisteredConsumers) {
  EXPECT_EQ(kZccachePayloadProtocol, 0x7A63u);
  EXPECT_EQ(kCludPayloadProtocol, 0x7C4Cu);
  EXPECT_EQ(kFbuildPayloadProtocol, 0x7EB1u);
  for (std::uint32_t id : {kZccachePayloadProtocol, kCludPayloadProtocol, kFbuildPayloadProtocol}) {
    EXPECT_TRUE(IsRegisteredConsumerId(id)) << std::hex << id;
    EXPECT_FALSE(IsFirstPartyPayloadProtocol(id)) << std::hex << id;
    EXPECT_FALSE(IsPrivateUseId(id)) << std::hex << id;
    EXPECT_TRUE(IsValidConsumerPayloadProtocol(id)) << std::hex << id;
  }
}

TEST(WireConstantsTest, FirstPartyIdsAreNeitherConsumerNorPrivate) {
  for (std::uint32_t id : kFirstPartyPayloadProtocols) {
    EXPECT_TRUE(IsFirstPartyPayloadProtocol(id)) << std::hex << id;
    EXPECT_FALSE(IsRegisteredConsumerId(id)) << std::hex << id;
    EXPECT_FALSE(IsPrivateUseId(id)) << std::hex << id;
    EXPECT_FALSE(IsValidConsumerPayloadProtocol(id)) << std::hex << id;
  }
}

TEST(WireConstantsTest, ReservedRangesAreNotClaimable) {
  EXPECT_FALSE(IsValidConsumerPayloadProtocol(0x0001));
  EXPECT_FALSE(IsValidConsumerPayloadProtocol(0x6FFF));
  EXPECT_FALSE(IsValidConsumerPayloadProtocol(0x7F00));
  EXPECT_FALSE(IsValidConsumerPayloadProtocol(0xEFFF));
}

}  // namespace
}  // namespace rp::transport
