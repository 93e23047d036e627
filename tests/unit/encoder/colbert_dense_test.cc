// Dense projection heads: config parsing, activations, bias, residual; Dense folder loading.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/encoder/lib/colbert/dense.h"
#include "services/encoder/lib/colbert/dense_io.h"
#include "services/encoder/lib/safetensors.h"

namespace tartan::encoder {
namespace {

namespace fs = std::filesystem;

TEST(DenseConfigTest, ParsesPyLateConfig) {
  auto config = ParseDenseConfig(
      R"({"in_features": 64, "out_features": 32, "bias": false,
          "activation_function": "torch.nn.modules.linear.Identity", "use_residual": false})",
      "1_Dense/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->in_features, 64);
  EXPECT_EQ(config->out_features, 32);
  EXPECT_FALSE(config->bias);
  EXPECT_EQ(config->activation, DenseActivation::kIdentity);
  EXPECT_FALSE(config->use_residual);
}

TEST(DenseConfigTest, ActivationClassPaths) {
  EXPECT_EQ(*ParseDenseActivation("torch.nn.modules.activation.Tanh"), DenseActivation::kTanh);
  EXPECT_EQ(*ParseDenseActivation("torch.nn.modules.activation.ReLU"), DenseActivation::kReLU);
  EXPECT_EQ(*ParseDenseActivation("torch.nn.modules.activation.GELU"), DenseActivation::kGELU);
  EXPECT_EQ(*ParseDenseActivation("Identity"), DenseActivation::kIdentity);
  EXPECT_FALSE(ParseDenseActivation("torch.nn.modules.activation.Softmax").ok());
}

TEST(DenseConfigTest, ErrorsNameTheFile) {
  for (const char* text :
       {"{not json", R"({"in_features": 4})", R"({"in_features": 4, "out_features": -1})",
        R"({"in_features": 4, "out_features": 2, "activation_function": "X"})"}) {
    auto config = ParseDenseConfig(text, "/m/1_Dense/config.json");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_NE(config.status().message().find("/m/1_Dense/config.json"), std::string::npos)
        << config.status();
  }
}

DenseConfig Config(int in, int out, bool bias, DenseActivation act, bool residual) {
  DenseConfig c;
  c.in_features = in;
  c.out_features = out;
  c.bias = bias;
  c.activation = act;
  c.use_residual = residual;
  return c;
}

TEST(DenseLayerTest, ForwardComputesActOfAffine) {
  // W = [[1, 2, 3], [-1, 0, 1]], b = [0.5, -0.5], x = [1, 1, 2] -> Wx + b = [9.5, 0.5].
  auto layer = DenseLayer::Create(Config(3, 2, true, DenseActivation::kTanh, false),
                                  {1, 2, 3, -1, 0, 1}, {0.5f, -0.5f}, {});
  ASSERT_TRUE(layer.ok()) << layer.status();
  const float x[6] = {1, 1, 2, 0, 0, 0};  // two tokens
  float y[4];
  layer->Forward(x, 2, y);
  EXPECT_FLOAT_EQ(y[0], std::tanh(9.5f));
  EXPECT_FLOAT_EQ(y[1], std::tanh(0.5f));
  EXPECT_FLOAT_EQ(y[2], std::tanh(0.5f));
  EXPECT_FLOAT_EQ(y[3], std::tanh(-0.5f));
}

TEST(DenseLayerTest, ResidualSameAndDifferentSizes) {
  // Same size: y = relu(Wx) + x.
  auto same =
      DenseLayer::Create(Config(2, 2, false, DenseActivation::kReLU, true), {1, 0, 0, -1}, {}, {});
  ASSERT_TRUE(same.ok()) << same.status();
  const float x[2] = {2, 3};
  float y[2];
  same->Forward(x, 1, y);
  EXPECT_FLOAT_EQ(y[0], 2 + 2);
  EXPECT_FLOAT_EQ(y[1], 0 + 3);
  // Different sizes: y = Wx + R x.
  auto diff = DenseLayer::Create(Config(2, 1, false, DenseActivation::kIdentity, true), {1, 1}, {},
                                 {10, 0});
  ASSERT_TRUE(diff.ok()) << diff.status();
  float z[1];
  diff->Forward(x, 1, z);
  EXPECT_FLOAT_EQ(z[0], 5 + 20);
  // A missing residual matrix is an error.
  EXPECT_FALSE(
      DenseLayer::Create(Config(2, 1, false, DenseActivation::kIdentity, true), {1, 1}, {}, {})
          .ok());
}

TEST(DenseLayerTest, ChainRunsInOrder) {
  std::vector<DenseLayer> chain;
  chain.push_back(*DenseLayer::Create(Config(2, 2, false, DenseActivation::kIdentity, false),
                                      {0, 1, 1, 0}, {}, {}));  // swap
  chain.push_back(*DenseLayer::Create(Config(2, 1, true, DenseActivation::kIdentity, false),
                                      {1, 10}, {100}, {}));
  const float x[2] = {1, 2};
  std::vector<float> y = RunDenseChain(chain, x, 1, 2);
  ASSERT_EQ(y.size(), 1u);
  EXPECT_FLOAT_EQ(y[0], 2 + 10 * 1 + 100);
}

TEST(DenseIoTest, WriteThenLoadAndShapeErrors) {
  const fs::path dir =
      fs::temp_directory_path() / ("colbert_dense_io_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  DenseConfig config = Config(3, 2, false, DenseActivation::kIdentity, false);
  ASSERT_TRUE(WriteDenseLayer(dir.string(), config, {1, 2, 3, 4, 5, 6}, {}).ok());
  auto layer = LoadDenseLayer(dir.string());
  ASSERT_TRUE(layer.ok()) << layer.status();
  const float x[3] = {1, 0, 1};
  float y[2];
  layer->Forward(x, 1, y);
  EXPECT_FLOAT_EQ(y[0], 4);
  EXPECT_FLOAT_EQ(y[1], 10);

  // config.json claims a shape the weights do not have: the error names the weights file.
  std::ofstream(dir / "config.json") << R"({"in_features": 4, "out_features": 2, "bias": false,
      "activation_function": "torch.nn.modules.linear.Identity"})";
  auto bad = LoadDenseLayer(dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model.safetensors"), std::string::npos) << bad.status();

  // bias declared but absent.
  std::ofstream(dir / "config.json") << R"({"in_features": 3, "out_features": 2, "bias": true,
      "activation_function": "torch.nn.modules.linear.Identity"})";
  bad = LoadDenseLayer(dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("linear.bias"), std::string::npos) << bad.status();

  fs::remove(dir / "model.safetensors");
  bad = LoadDenseLayer(dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model.safetensors"), std::string::npos) << bad.status();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tartan::encoder
