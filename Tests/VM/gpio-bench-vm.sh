# shellcheck shell=dash
# gpio-bench-vm.sh: Ganglion's GPIO figures INSIDE the gpio-sim VM (busybox sh); run by
# gpio-bench.sh once per libgpiod version:
#
#   gpio-bench-vm.sh v1|v2
#
# 1. Latency: an input edge -> the rule `echo` -> the output line, measured by gpiolat from
#    the write that raises the edge to the output's level changing (p50/p99/max).
# 2. Edge rate: bursts of 2,000 edges at rising rates into a `count: both` pulse counter;
#    for each rate, how many the counter saw and whether the kernel reported lost edges.
#    The highest rate with every edge counted is the figure.
. /lib/sim.sh
api=${1:?usage: gpio-bench-vm.sh v1|v2}
G=/tmp/g
chip=$(sim_chip bench 4 --label bench 0=IN 2=PULSES) || exit 1
mkdir -p $G
cat >$G/ganglion.yaml <<YAML
device: bench
rules: rules.yaml
log: { dir: $G/log }
http: { listen: 127.0.0.1:9120 }
signals:
  bench.in:
    gpio: { chip: bench, line: IN, bias: pull-down }
  bench.out:
    gpio: { chip: bench, line: 1, output: true }
  pulses:
    gpio: { chip: bench, line: PULSES, bias: pull-down, count: both }
YAML
cat >$G/rules.yaml <<YAML
rules:
  - name: echo
    on: bench.in
    do:
      - set: { bench.out: value }
YAML
/usr/bin/ganglion run --config $G/ganglion.yaml >$G/daemon.log 2>&1 &
pid=$!
sim_wait 20000 /usr/bin/ganglion status --config $G/ganglion.yaml >/dev/null 2>&1 || {
  echo "the daemon did not start: $(tail -3 $G/daemon.log)"
  exit 1
}
in_pull="$(sim_line_dir "$chip" 0)/pull"
out_value="$(sim_line_dir "$chip" 1)/value"
echo "bench $api latency: $(gpiolat "$in_pull" "$out_value" 500)"

value_of() {
  /usr/bin/ganglion status --config $G/ganglion.yaml --json | grep -o "\"$1\":{[^}]*}" | sed -n 's/.*"value":\([^,}]*\).*/\1/p'
}
pulses_pull="$(sim_line_dir "$chip" 2)/pull"
total=0
best=0
for rate in 100 200 500 1000 2000 5000; do
  interval=$((1000000 / rate))
  lost_before=$(/usr/bin/ganglion log export --config $G/ganglion.yaml | grep -c '"edges lost"')
  edgegen "$pulses_pull" 2000 "$interval" up >/dev/null
  total=$((total + 2000))
  # Wait until the count stops moving (the daemon has caught up).
  last=-1
  while :; do
    sleep 1
    now=$(value_of pulses)
    [ "$now" = "$last" ] && break
    last=$now
  done
  counted=$((now - (total - 2000)))
  total=$now
  lost=$(( $(/usr/bin/ganglion log export --config $G/ganglion.yaml | grep -c '"edges lost"') - lost_before ))
  echo "bench $api rate: $rate edges/s: counted $counted of 2000, kernel loss reports $lost"
  [ "$counted" = 2000 ] && [ "$lost" = 0 ] && best=$rate
done
echo "bench $api highest lossless rate: $best edges/s"
kill -TERM $pid
wait $pid
