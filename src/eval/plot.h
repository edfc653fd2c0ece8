// Line plots written as PNG files through gnuplot (Debian package gnuplot-nox).
#pragma once

#include <string>
#include <vector>

namespace lim {

struct PlotSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;  // same length as x
};

struct PlotSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  bool points = true;  // draw a marker at every point (false: lines only, for long series)
  std::vector<PlotSeries> series;
};

// Renders spec to a PNG at path. Throws lim::Error when gnuplot is missing (naming the package
// to install) or fails, or when a series' x and y lengths differ.
void write_plot_png(const PlotSpec& spec, const std::string& path);

// Returns the gnuplot script write_plot_png runs, with the data inline.
std::string gnuplot_script(const PlotSpec& spec, const std::string& png_path);

}  // namespace lim
