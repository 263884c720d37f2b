// SPDX-License-Identifier: Apache-2.0
// The only way core/ includes LibTorch (also the precompiled header).
// Keep torch out of formats/, cli/ and daemon/ headers: they compile in a
// fraction of the time without it.
#pragma once

#include <torch/torch.h>
