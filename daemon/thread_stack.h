// SPDX-License-Identifier: Apache-2.0
// Debian's civetweb 1.15 is built with USE_STACK_SIZE=102400: every worker
// thread asks for a 100 KiB stack. In a process that also loads LibTorch
// (large static TLS), glibc refuses such a stack with EINVAL ("Cannot create
// threads: error 0"), and 100 KiB would be tight for JSON and image decoding
// anyway. server.cpp therefore interposes pthread_attr_setstacksize so that
// small requests are raised to kMinThreadStackBytes; larger ones pass through.
#pragma once

#include <cstddef>

namespace sam3::daemon {
inline constexpr size_t kMinThreadStackBytes = size_t{2} << 20;  // 2 MiB
}  // namespace sam3::daemon
