#!/usr/bin/env bash
# Reproduces docs/results/: every model on the test split of the default synthetic corpus.
#   scripts/evaluate_all.sh [WORK_DIR]        (default WORK_DIR: runs/default, as scripts/train_default_model.sh)
# Needs the corpus, cache and VQ-VAE run of scripts/train_default_model.sh in WORK_DIR (it runs that first when
# they are missing) and the bundled MI Nets in resources/models/. Then, on two CPU cores, one thread each:
#   1. the MBR ablation: two cpu_small VQ-VAEs, with and without MBR blocks         (~20 min)
#   2. the MI Net paper's baselines: RNN Seq2Seq, Graph-Transformer, the GRU seq2seq prior  (~30 min)
#   3. Visually Indicated Music's frame regressor, vision only and vision + MIDI                     (~30 min)
#   4. minet-train evaluate on all of them -> docs/results/                          (~40 min)
#      with the hard-views benchmark: a 15-minute `synth --views hard` set of other pieces and seed  (~15 min)
# The baselines and frame regressors train with the default recipe's skeleton augmentation (their sizes and steps
# are the same in cpu_small.toml and default.toml).
# Every step resumes: training runs continue from their last checkpoint, the evaluation from its work folder.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-runs/default}
T=.venv/bin/minet-train
RECIPE=training/recipes/cpu_small.toml
DEFAULT=training/recipes/default.toml  # the bundled MI Nets' recipe: its VQ-VAE's codes are the priors'
export OMP_NUM_THREADS=1
if [ ! -f "$W/cache/manifest.json" ] || { [ ! -f "$W/vqvae/vqvae.ckpt" ] && [ ! -f "$W/shipped/minet.safetensors" ]; }; then
    scripts/train_default_model.sh "$W"
fi
# The VQ-VAE whose codes the priors learnt: a full run's, or the shipped one (`train_default_model.sh WORK priors`).
VQ=$W/vqvae
[ -f "$VQ/vqvae.ckpt" ] || VQ=$W/shipped/minet.safetensors
E=$W/eval
mkdir -p "$E"
# 1. VQ-VAE with and without multi-band residual blocks: the recipe and use_mbr = false, everything else equal.
[ -f "$E/vqvae_mbr/vqvae.ckpt" ] ||
    $T vqvae --cache "$W/cache" --out "$E/vqvae_mbr" --config "$RECIPE" --no-progress
sed 's/^\[model.vqvae\]$/[model.vqvae]\nuse_mbr = false/' "$RECIPE" > "$E/no_mbr.toml"
[ -f "$E/vqvae_no_mbr/vqvae.ckpt" ] ||
    $T vqvae --cache "$W/cache" --out "$E/vqvae_no_mbr" --config "$E/no_mbr.toml" --no-progress
# 2. The MI Net paper's baselines and the Table 5 ablation.
[ -f "$E/seq2seq/model.safetensors" ] ||
    $T seq2seq --cache "$W/cache" --out "$E/seq2seq" --config "$DEFAULT" --no-progress
[ -f "$E/graph_transformer/model.safetensors" ] ||
    $T graph-transformer --cache "$W/cache" --out "$E/graph_transformer" --config "$DEFAULT" --no-progress
[ -f "$E/content_gru/content_gru.ckpt" ] ||
    $T content-gru --cache "$W/cache" --vqvae "$VQ" --out "$E/content_gru" --config "$DEFAULT" --no-progress
# 3. Visually Indicated Music's frame regressor.
[ -f "$E/regressor/model.safetensors" ] ||
    $T regressor --cache "$W/cache" --out "$E/regressor" --config "$DEFAULT" --no-progress
[ -f "$E/regressor_midi/model.safetensors" ] ||
    $T regressor --cache "$W/cache" --out "$E/regressor_midi" --midi --config "$DEFAULT" --no-progress
# The hard-views benchmark (synthetic): other seed, none of the corpus's pieces, views outside its ranges.
[ -f "$W/hard/synth.json" ] ||
    $T synth --out "$W/hard" --minutes 15 --seed 4242 --views hard --exclude "$W/corpus" --workers 2
$T prepare "$W/hard" --out "$W/hard_cache" --workers 2
# 4. The report.
$T evaluate \
    resources/models/minet.safetensors resources/models/minet_midi.safetensors \
    "$E/seq2seq/model.safetensors" "$E/graph_transformer/model.safetensors" \
    "$E/regressor/model.safetensors" "$E/regressor_midi/model.safetensors" \
    --cache "$W/cache" --out docs/results --work "$E/work" --vqvae-ablation "$E/vqvae_mbr" "$E/vqvae_no_mbr" \
    --content-gru "$E/content_gru" --demos resources/demo --hard-views "$W/hard_cache" --threads 1 \
    --command-line "scripts/evaluate_all.sh $W"
