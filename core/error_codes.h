// SPDX-License-Identifier: Apache-2.0
// The one place where error types become exit codes and HTTP statuses.
#pragma once

#include <exception>

#include "core/errors.h"

namespace sam3 {

// Exit code for an exception caught at the CLI boundary.
ExitCode exit_code_for(const std::exception& e) noexcept;

// HTTP status for an exception caught at the daemon boundary.
int http_status_for(const std::exception& e) noexcept;

}  // namespace sam3
