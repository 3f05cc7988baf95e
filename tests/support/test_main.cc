// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "support/child_registry.h"

int main(int argc, char** argv) {
  if (int rc = rp::test::RunChildIfRequested(argc, argv); rc >= 0) return rc;
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
