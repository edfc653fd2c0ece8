#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common.h"
#include "eval/plot.h"

namespace lim {
namespace {

PlotSpec two_series() {
  PlotSpec spec;
  spec.title = "recall \"vs\" budget";
  spec.x_label = "budget (tokens)";
  spec.y_label = "recall";
  spec.log_x = true;
  spec.series.push_back({"lessismore", {64, 128, 256}, {0.9, 0.95, 0.99}});
  spec.series.push_back({"dense", {64, 128, 256}, {1, 1, 1}});
  return spec;
}

TEST(Plot, ScriptCarriesDataAndEscapesTitle) {
  const std::string script = gnuplot_script(two_series(), "/tmp/out.png");
  EXPECT_NE(script.find("set title \"recall \\\"vs\\\" budget\""), std::string::npos) << script;
  EXPECT_NE(script.find("128 0.95\n"), std::string::npos) << script;
  EXPECT_NE(script.find("title \"dense\""), std::string::npos) << script;
  EXPECT_NE(script.find("set logscale x 2"), std::string::npos) << script;
}

TEST(Plot, MismatchedSeriesIsAnError) {
  PlotSpec spec = two_series();
  spec.series[0].y.pop_back();
  EXPECT_THROW(gnuplot_script(spec, "/tmp/out.png"), Error);
}

TEST(Plot, WritesPng) {
  const std::string path = (std::filesystem::temp_directory_path() / "lim-plot-test.png").string();
  std::remove(path.c_str());
  write_plot_png(two_series(), path);
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path;
  char magic[8] = {};
  in.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace lim
