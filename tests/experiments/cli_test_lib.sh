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
    kill -STOP "$pid"
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
