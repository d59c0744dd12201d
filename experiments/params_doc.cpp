#include "experiments/params_doc.hpp"

#include "core/params.hpp"
#include "devices/adc.hpp"
#include "devices/mpc.hpp"
#include "devices/snr_chain.hpp"
#include "devices/dac.hpp"
#include "devices/mosfet.hpp"
#include "devices/pcm.hpp"
#include "devices/rram.hpp"
#include "devices/sense_amp.hpp"
#include "devices/snn_cost.hpp"
#include "devices/sram_compute.hpp"
#include "devices/technology.hpp"
#include "devices/variation.hpp"
#include "devices/xbar_cost.hpp"
#include "experiments/correctnet.hpp"
#include "experiments/basisn.hpp"
#include "experiments/snn.hpp"
#include "experiments/onchip.hpp"
#include "experiments/denoise.hpp"
#include "experiments/hardnn.hpp"
#include "experiments/mc.hpp"
#include "experiments/snr.hpp"
#include "experiments/train_config.hpp"
#include "nets/analog.hpp"
#include "nets/hwa.hpp"
#include "nets/lipschitz.hpp"
#include "nets/optimizer.hpp"
#include "nets/placement.hpp"
#include "nets/train.hpp"

namespace aimc::experiments {

namespace {
template <class S>
std::string section(const std::string& title, const std::string& note = "") {
  return "### " + title + "\n\n" + (note.empty() ? "" : note + "\n\n") + markdown_table<S>() + "\n";
}
}  // namespace

std::string parameter_reference() {
  using namespace devices;
  std::string s =
      "# Parameter reference\n\n"
      "Generated from the parameter tables in the code (`aimc params` prints it; a test keeps this file in "
      "step). Every key of a campaign config (`aimc mc`) and of a training config (`aimc train CONFIG.toml`) is one "
      "row below, under its TOML section; the "
      "defaults are the values used when a key is absent. Units are SI; \"1\" is dimensionless. Keys "
      "marked as set elsewhere (`rram.rows`, `pcm.rows`, `sram_*.n_rows`, `sram_*.b_x`, `mosfet.x_max`) are derived "
      "from `mapping.tile_rows`, `dac.bits` and the calibrated input range.\n\n"
      "## Campaign (`aimc mc`)\n\n";
  s += section<McModelParams>("[model]");
  s += section<McDataParams>("[data]");
  s += section<McParams>("[mc]");
  s += section<nets::MappingParams>("[mapping]",
                                    "Per-layer overrides: any key of the hardware sections below under "
                                    "`[layer.N.section]` (N = ordinal among the Dense/Conv2d layers).");
  s += "## HarDNN campaign (`aimc hardnn`)\n\n";
  s += section<HardnnParams>("[hardnn]", "`[model]` and `[data]` as for `aimc mc`; the analog error model also reads "
                                         "the hardware sections below (`[mapping]`, `[rram]`, `[adc]`, ...).");
  s += "## CorrectNet (`aimc correctnet`)\n\n"
       "`[model]`, `[data]`, `[mc]`, `[sweep]` and the hardware sections as for `aimc mc` (the evaluation of the four "
       "variants); `[train]` the recipe of the Lipschitz fine-tuning (the keys of `aimc train`'s `[train]`, defaults "
       "of fine-tuning a model file).\n\n";
  s += section<nets::LipschitzParams>("[lipschitz]");
  s += section<CompensationParams>("[compensation]");
  s += section<SearchParams>("[search]");
  s += section<nets::PlacementSearchParams>("[agent]", "The REINFORCE placement agent (nets/placement.hpp).");
  s += "## Denoising blocks (`aimc denoise`)\n\n"
       "`[model]`, `[data]`, `[mc]` (trials: noise instances per variant and chips per analog point), `[sweep]` and "
       "the hardware sections as for `aimc mc` (the analog evaluation).\n\n";
  s += section<NoiseParams>("[noise]");
  s += section<DenoiseParams>("[denoise]");
  s += "## BasisN (`aimc basisn`)\n\n"
       "`[model]`, `[data]`, `[mc]`, `[sweep]` and the hardware sections as for `aimc mc` (the Monte Carlo of both "
       "models); `[xbar_cost]` the crossbar cost model (its crossbar size is `mapping.tile_rows` x `mapping.tile_cols`, "
       "its coefficient arithmetic `basisn.coeff_mode`).\n\n";
  s += section<BasisnParams>("[basisn]");
  s += "## Spiking networks on ADC-less IMC (`aimc snn`)\n\n"
       "`[model]` (a spiking model file, e.g. from `aimc train --model snn_cnn`), `[data]`, `[mc]`, `[sweep]` and "
       "the hardware sections as for `aimc mc` (the Monte Carlo of the five variants; `mapping.readout` is set by "
       "each variant, `adc.bits` is the ADC variant's precision); `[snn_cost]` the energy and latency model.\n\n";
  s += section<SnnParams>("[snn]");
  s += "## SNR and precision analysis (`aimc snr`)\n\n";
  s += section<SnrRunParams>("[snr]", "The model sections `[qs]`, `[is]` and `[qr]` take the keys of the SRAM "
                                      "sections below (circuit, technology, process variation, `technology` preset); "
                                      "`[sweep]` axes apply to every model, `[sweep.qs]` etc. to one.");
  s += section<MpcParams>("[mpc]");
  s += section<AdcEnergyParams>("[adc_energy]");
  s += section<AccumulationParams>("[accumulation]", "Plus the swept lists `n` (products summed) and "
                                                     "`mantissa_bits` (accumulator fraction bits, 0..52).");
  s += "## Hardware\n\n";
  s += section<RramParams>("[rram]");
  s += section<PcmParams>("[pcm]", "Phase-change memory with drift (devices/pcm.hpp): sweep `pcm.t_inference_s` "
                                   "for accuracy over time, `mapping.drift_compensation` for the digital "
                                   "compensation.");
  s += section<DacParams>("[dac]");
  s += section<AdcParams>("[adc]");
  s += section<SenseAmpParams>("[sense_amp]");
  s += section<QsParams>("[sram_qs] circuit", "The `[sram_qs]`, `[sram_is]` and `[sram_qr]` sections take their "
                                              "circuit's keys, the technology keys, the process-variation keys "
                                              "and `technology = \"65nm\" | \"45nm\" | \"22nm\"` (a preset).");
  s += section<IsParams>("[sram_is] circuit");
  s += section<QrParams>("[sram_qr] circuit");
  s += section<Technology>("technology (in [sram_*])", "Defaults of the 65nm preset.");
  s += section<ProcessVariation>("process variation (in [sram_*])");
  s += section<MosfetParams>("[mosfet]");
  s += "## On-chip learning (`aimc onchip`)\n\n"
       "`[study]` also takes `hidden = [4]` (hidden-layer sizes; the network is 4-hidden-3 with a bias row per "
       "layer) and `devices = [\"float\", \"mosfet\", \"rram\"]`; `[mosfet]` is the MOSFET table above (its "
       "`dv_g_step_V` and `max_pulses` are replaced by `onchip.levels` and `onchip.max_pulses`); sweeps are "
       "`[sweep.onchip]`, `[sweep.mosfet]`, `[sweep.mosfet_update]`, `[sweep.rram_pulse]` with `key = [values]`, "
       "each swept alone.\n\n";
  s += section<OnchipStudyParams>("[study]");
  s += section<nets::OnchipParams>("[onchip]", "The training loop and update circuit (nets/onchip.hpp).");
  s += section<MosfetUpdateParams>("[mosfet_update]", "Gate-charge pump and retention of the MOSFET synapse "
                                                      "(devices/pulse_synapse.hpp).");
  s += section<RramPulseParams>("[rram_pulse]", "RRAM synapse with NeuroSim's exponential pulse response "
                                                "(devices/pulse_synapse.hpp).");
  s += "## Crossbar cost model (BasisN, issue 18)\n\n";
  s += section<XbarCostParams>("[xbar_cost]", "Cycles, latency and energy of the standard, reprogramming and BasisN "
                                              "mappings (devices/xbar_cost.hpp, where every formula is written out); "
                                              "the ADC energy per conversion takes the `[adc_energy]` constants.");
  s += "## Spiking-network cost model (ADC vs sense-amplifier read-out)\n\n";
  s += section<SnnCostParams>("[snn_cost]", "Energy and latency per inference of a spiking network read out by shared "
                                            "ADCs or by one sense amplifier per column (devices/snn_cost.hpp, where "
                                            "every formula is written out); the ADC energy per conversion takes the "
                                            "`[adc_energy]` constants.");
  s += "## Training (`aimc train`)\n\n"
       "`aimc train --model NAME` takes these parameters as options; `aimc train CONFIG.toml` reads them from the "
       "config's sections below, `[train]` holding the keys of both training tables. The defaults shown are the "
       "library's. Per architecture (`--model`, or `[model] architecture`): epochs (mlp 20, cnn 12, "
       "resnet8/resnet20 25, snn_cnn/snn_mlp 8), and for the ResNets `lr = 0.002`, `weight_decay = 0.01`, `augment = shift-flip` and "
       "`augment_shift = 1` (the MLP and CNN train with lr 0.001 and without them); `--epochs`, `--lr`, "
       "`--weight-decay`, `--augment` and `--augment-shift` or the `[train]` keys override them. Fine-tuning a "
       "model file (`[model] path`): " + std::to_string(kFineTuneEpochs) + " epochs on the cosine schedule at a "
       "tenth of the learning rate the file records (1e-4 if none), with its recorded optimizer, batch size, "
       "weight decay and augmentation.\n\n";
  s += section<TrainModelParams>("[model] (config form)");
  s += section<TrainDataParams>("[data] (config form)", "The `[data]` keys of `aimc mc` above, plus the one below. "
                                                       "`calibration`: training images that calibrate the HWA "
                                                       "converter ranges; `subset`: test images evaluated after "
                                                       "each epoch (all test images when absent).");
  s += section<nets::TrainParams>("[train]");
  s += section<nets::OptimizerParams>("[train] optimizer keys");
  s += section<nets::HwaParams>("[hwa] (config form)",
                                "Hardware-aware training (nets/hwa.hpp) of the layers `mapping.analog_layers` "
                                "selects, on the hardware of the sections above (`[mapping]`, the substrate's "
                                "section, `[dac]`, `[adc]`, `[sense_amp]`, `[layer.N.*]`); the noise streams are "
                                "keyed by `train.seed`. Without an `[hwa]` section the training is digital.");
  return s;
}

}  // namespace aimc::experiments
