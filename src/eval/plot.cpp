#include "eval/plot.h"

#include <cstdio>
#include <sstream>

#include "common.h"

namespace lim {

namespace {

// Quotes a string for gnuplot's double-quoted syntax.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string gnuplot_script(const PlotSpec& spec, const std::string& png_path) {
  std::ostringstream s;
  s.precision(9);
  s << "set terminal pngcairo size 1000,640 noenhanced font \"sans,11\"\n";
  s << "set output " << quoted(png_path) << "\n";
  s << "set title " << quoted(spec.title) << "\n";
  s << "set xlabel " << quoted(spec.x_label) << "\n";
  s << "set ylabel " << quoted(spec.y_label) << "\n";
  s << "set grid\nset key outside right top\n";
  if (spec.log_x) s << "set logscale x 2\n";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const PlotSeries& series = spec.series[i];
    if (series.x.size() != series.y.size()) {
      throw Error("plot '" + spec.title + "': series '" + series.name + "' has " + std::to_string(series.x.size()) +
                  " x values but " + std::to_string(series.y.size()) + " y values.");
    }
    s << "$data" << i << " << EOD\n";
    for (size_t j = 0; j < series.x.size(); ++j) s << series.x[j] << ' ' << series.y[j] << '\n';
    s << "EOD\n";
  }
  s << "plot ";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    s << (i ? ", " : "") << "$data" << i << " using 1:2 with " << (spec.points ? "linespoints" : "lines")
      << " lw 2 title " << quoted(spec.series[i].name);
  }
  if (spec.series.empty()) s << "NaN notitle";
  s << "\n";
  return s.str();
}

void write_plot_png(const PlotSpec& spec, const std::string& path) {
  const std::string script = gnuplot_script(spec, path);
  FILE* pipe = popen("gnuplot 2>&1", "w");
  if (!pipe) throw Error("cannot start gnuplot to draw " + path + "; install it with: apt-get install gnuplot-nox");
  std::fwrite(script.data(), 1, script.size(), pipe);
  const int status = pclose(pipe);
  if (status != 0) {
    throw Error("gnuplot failed (status " + std::to_string(status) + ") while drawing " + path +
                "; if it is missing, install it with: apt-get install gnuplot-nox");
  }
}

}  // namespace lim
