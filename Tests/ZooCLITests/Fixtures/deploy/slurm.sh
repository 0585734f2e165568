#!/bin/bash
# 8 Zoo workers for 'readme-zoo' (32 runs), store postgres://zoo@db.example.org:5432/zoo
# 1. export ZOO_STORE='postgres://zoo@db.example.org:5432/zoo?checkpoints=/shared/zoo'
#    (the password in ~/.pgpass, or in the URL: sbatch passes the environment on)
# 2. zoo submit examples/readme-zoo.yaml --store "$ZOO_STORE"
# 3. sbatch THIS-FILE; watch with: zoo status --store "$ZOO_STORE"
#SBATCH --job-name=zoo-readme-zoo
#SBATCH --array=0-7
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=12:00:00
#SBATCH --signal=B:TERM@60
#SBATCH --output=zoo-readme-zoo-%A_%a.log
#SBATCH --partition=cpu
set -euo pipefail
: "${ZOO_STORE:?export ZOO_STORE=postgres://USER@HOST/DATABASE?checkpoints=/shared/folder before sbatch}"
# The worker replaces the shell, so Slurm's SIGTERM reaches it: it checkpoints and hands its runs back.
exec zoo worker --threads 2 --population 2 --idle-exit 300 --store "$ZOO_STORE"
