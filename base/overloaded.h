// base/overloaded.h — a set of lambdas as one visitor for std::visit:
//
//   std::visit(Overloaded{[](const PioRange& r) {...}, [](const MmioRange& r) {...}}, v);
//
// Internal to dbs_device.

#ifndef DBS_DEVICE_BASE_OVERLOADED_H_
#define DBS_DEVICE_BASE_OVERLOADED_H_

namespace dbs::internal {

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace dbs::internal

#endif  // DBS_DEVICE_BASE_OVERLOADED_H_
