// temporary experiment, deleted after use
#include <chrono>
#include <cstdlib>
#include <iostream>
#include "core/model/attention.h"
#include "core/model/vit_backbone.h"
#include "test_util.h"
using namespace sam3::core;
TEST(Tmp, FullGrid) {
  c10::InferenceMode g;
  VitConfig c; c.embed_dim = 64; c.depth = 2; c.num_heads = 4; c.global_att_blocks = {1};
  set_attention_budget_bytes(int64_t(std::atoi(std::getenv("BUDGET_MB"))) << 20);
  ViT vit(c);
  torch::manual_seed(0);
  auto x = torch::randn({1, 3, 1008, 1008});
  auto t0 = std::chrono::steady_clock::now();
  auto y = vit->forward(x);
  std::cout << y.sizes() << " " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s, sum " << y.sum().item<double>() << "\n";
}
