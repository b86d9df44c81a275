// The consumer's own resources/resources.h: a folder name as common as ours. dbs_device's
// headers include theirs as "dbs_device/resources/resources.h", so this file never stands
// in for it; if one did, the build would fail on the marker below.
#ifndef DBS_DEVICE_CONSUMER_RESOURCES_RESOURCES_H_
#define DBS_DEVICE_CONSUMER_RESOURCES_RESOURCES_H_

namespace consumer {
// What this workspace's own code means by a resource.
struct Resource {
  int units = 0;
};
}  // namespace consumer

#define CONSUMER_RESOURCES_HEADER_INCLUDED 1

#endif  // DBS_DEVICE_CONSUMER_RESOURCES_RESOURCES_H_
