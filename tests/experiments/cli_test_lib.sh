# Shared by the process-level campaign tests (test_mc_cli.sh, test_hardnn_cli.sh); source it.

fail() { echo "FAIL: $*" >&2; exit 1; }

# h5_sum FILE DATASET: the sum of an integer dataset of an HDF5 file (0 if it cannot be read).
h5_sum() {
  h5dump -d "$2" -y -w 0 "$1" 2>/dev/null | awk '/DATA \{/{f=1;next} f&&/\}/{exit} f' | tr ',' '\n' |
    awk '{s+=$1} END{print s+0}'
}

# kill_between_rewrites PID OUT COUNT: stops (SIGSTOP) the campaign PID writing OUT whenever OUT holds
# completed work (`COUNT OUT` >= 1), and kills it (SIGKILL) at a moment when the journal OUT.journal also
# holds records the file does not have yet, so a resume must replay the journal. Fails if the run ends
# first or cannot be caught within 10 minutes.
kill_between_rewrites() {
  local pid=$1 out=$2 count=$3 killed=0
  for _ in $(seq 1 6000); do
    sleep 0.1
    kill -0 "$pid" 2> /dev/null || fail "the campaign finished before it could be killed"
    [ -f "$out" ] && [ "$("$count" "$out")" -ge 1 ] || continue
    # (the run may end between the two kills: that is the same failure as above, not a shell error)
    kill -STOP "$pid" 2> /dev/null || fail "the campaign finished before it could be killed"
    if [ -f "$out.journal" ] && [ "$(grep -c " end$" "$out.journal" || true)" -ge 1 ]; then
      kill -9 "$pid"
      killed=1
      break
    fi
    kill -CONT "$pid"
  done
  [ "$killed" = 1 ] || fail "could not catch the run between file rewrites"
  wait "$pid" 2> /dev/null || true
}

# journal_records FILE...: complete records in journals (0 for none).
journal_records() {
  local n=0 f
  for f in "$@"; do [ -f "$f" ] && n=$((n + $(grep -c " end$" "$f" || true))); done
  echo "$n"
}

# kill_mpi_run MPIRUN_PID OUT: SIGKILLs every rank of a `mpirun -n 2 ... --out OUT` campaign and mpirun
# itself (OpenMPI gives each rank a process group of its own, so killing mpirun alone would leave them
# running) at a moment when both ranks' journals (OUT.journal, OUT.journal.1) hold records. The ranks
# are found by their command line, which holds "--out OUT". Fails if the run ends first.
kill_mpi_run() {
  local pid=$1 out=$2 killed=0 ranks
  for _ in $(seq 1 6000); do
    sleep 0.1
    kill -0 "$pid" 2> /dev/null || fail "the MPI campaign finished before it could be killed"
    ranks=$(pgrep -f -- "--out $out" | grep -vx "$pid" || true)
    [ -n "$ranks" ] || continue
    # shellcheck disable=SC2086
    kill -STOP $ranks 2> /dev/null || true
    if [ "$(journal_records "$out.journal")" -ge 1 ] && [ "$(journal_records "$out.journal.1")" -ge 1 ]; then
      # shellcheck disable=SC2086
      kill -9 $ranks "$pid" 2> /dev/null || true
      killed=1
      break
    fi
    # shellcheck disable=SC2086
    kill -CONT $ranks 2> /dev/null || true
  done
  [ "$killed" = 1 ] || fail "could not catch the MPI run with records in both ranks' journals"
  wait "$pid" 2> /dev/null || true
  sleep 0.2
}

# progress_total STDERR_FILE LABEL: the job total of the final progress line "LABEL: N/N unit, ... took"
# (0 if there is none): how many jobs a (resumed) run still had to do.
progress_total() {
  grep -E "^$2: [0-9]+/[0-9]+ .*took" "$1" | tail -n 1 | sed -E "s/^$2: [0-9]+\/([0-9]+) .*/\1/" | grep . || echo 0
}

# resume_in_copy RANKS SUBCOMMAND OUT: copies OUT and its journals to rRANKS/ and runs
# `aimc SUBCOMMAND ../c.toml --out OUT --resume` there, on 1 process (2 threads) or under
# `$mpirun -n RANKS` (1 thread each); stderr goes to rRANKS/err.txt. Uses the caller's aimc, mpirun, as_root.
resume_in_copy() {
  local ranks=$1 sub=$2 out=$3
  local cmd=("$aimc" --threads 2)
  [ "$ranks" = 1 ] || cmd=("$mpirun" -n "$ranks" --oversubscribe "${as_root[@]}" "$aimc" --threads 1)
  mkdir "r$ranks"
  cp "$out"* "r$ranks/"
  (cd "r$ranks" && "${cmd[@]}" "$sub" ../c.toml --out "$out" --resume --quiet 2> err.txt) ||
    { cat "r$ranks/err.txt" >&2; fail "resume with $ranks rank(s) failed"; }
}
