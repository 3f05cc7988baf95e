// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include "support/child_registry.h"

int main(int argc, char** argv) {
  // protobuf logs malformed input it rejects (a peer can trigger that at
  // will); tests assert the rejection itself.
  google::protobuf::SetLogHandler(nullptr);
  if (int rc = rp::test::RunChildIfRequested(argc, argv); rc >= 0) return rc;
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
