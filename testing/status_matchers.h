// testing/status_matchers.h — GoogleTest matchers for absl::Status and StatusOr.
//
//   EXPECT_THAT(bus.Insert(...), StatusIs(absl::StatusCode::kAlreadyExists));
//   EXPECT_THAT(bus.Insert(...), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3f8")));
//   EXPECT_OK(manager.Commit());
//   EXPECT_THAT(allocator.Allocate(c), IsOkAndHolds(InclusiveRange{0x10, 0x13}));
//   ASSERT_OK_AND_ASSIGN(auto range, allocator.Allocate(c));
//
// Our Abseil release (20220623) has no absl/status/status_matchers.h.

#ifndef DBS_DEVICE_TESTING_STATUS_MATCHERS_H_
#define DBS_DEVICE_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER_P(StatusIs, code, "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = ::dbs::testing::GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + absl::StatusCodeToString(code) + " and a matching message") {
  const absl::Status& status = ::dbs::testing::GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

// A StatusOr that is OK and whose value matches `value_matcher`.
MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = ::dbs::testing::GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.ok();
}

}  // namespace dbs::testing

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::dbs::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::dbs::testing::IsOk())

#define DBS_TESTING_CONCAT_INNER(a, b) a##b
#define DBS_TESTING_CONCAT(a, b) DBS_TESTING_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(DBS_TESTING_CONCAT(status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.ok()) << tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // DBS_DEVICE_TESTING_STATUS_MATCHERS_H_
