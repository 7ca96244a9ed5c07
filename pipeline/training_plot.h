// training_plot.h — the training curves of a run, drawn from its CSV log
// (so a resumed run's plot shows every epoch): validation accuracy of each
// exit and training loss against the epoch.
#pragma once

#include <string>

namespace branchy {

// Reads csv_path (train_log.csv as the trainer writes it) and writes svg_path.
void write_training_plot(const std::string& svg_path, const std::string& csv_path, const std::string& title);

}  // namespace branchy
