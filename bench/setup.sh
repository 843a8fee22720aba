#!/usr/bin/env bash
# Creates bench/.venv with PyTorch (CPU is all the benchmarks use), numpy, Gymnasium and Stable-Baselines3,
# for the side-by-side benchmarks (bench/python/learner_torch.py, rollout_gym.py, SB3's PPO on CartPole).
# PyPI's Linux torch wheel pulls the CUDA libraries too (a few GB); where a CPU-only index is reachable,
# set PIP_INDEX_URL=https://download.pytorch.org/whl/cpu.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet torch numpy gymnasium==1.4.0 stable-baselines3
# MuJoCo for bench/sb3.ts --algo sac-hopper (gymnasium needs imageio and packaging to import it).
.venv/bin/pip install --quiet mujoco imageio packaging
.venv/bin/python -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
