// SPDX-License-Identifier: Apache-2.0
#include "core/error_codes.h"

#include "core/torch.h"

namespace sam3 {

ExitCode exit_code_for(const std::exception& e) noexcept {
  if (dynamic_cast<const InvalidInput*>(&e)) return ExitCode::input;
  if (dynamic_cast<const NotFound*>(&e)) return ExitCode::input;
  if (dynamic_cast<const ModelError*>(&e)) return ExitCode::model;
  if (dynamic_cast<const Overloaded*>(&e)) return ExitCode::overloaded;
  if (dynamic_cast<const Cancelled*>(&e)) return ExitCode::interrupted;
  // A LibTorch check that escaped a stage is a model failure (shape, dtype, device).
  if (dynamic_cast<const c10::Error*>(&e)) return ExitCode::model;
  return ExitCode::runtime;
}

int http_status_for(const std::exception& e) noexcept {
  if (dynamic_cast<const TooLarge*>(&e)) return 413;
  if (dynamic_cast<const InvalidInput*>(&e)) return 400;
  if (dynamic_cast<const NotFound*>(&e)) return 404;
  if (dynamic_cast<const Overloaded*>(&e)) return 503;
  if (dynamic_cast<const ModelMissing*>(&e)) return 503;
  return 500;
}

std::string describe_exception(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

const char* error_type_name(const std::exception& e) noexcept {
  if (const auto* s = dynamic_cast<const Error*>(&e)) return s->type();
  if (dynamic_cast<const c10::Error*>(&e)) return "model_error";
  return "internal";
}

}  // namespace sam3
