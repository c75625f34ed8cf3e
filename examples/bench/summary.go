package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// metric is one number of a summary row, taken from each result of a case.
type metric struct {
	label  string
	unit   string
	format string
	get    func(*Result) float64
}

var (
	mDelivered = metric{"delivered msgs/s", "", "%.0f", func(r *Result) float64 { return r.DeliveredPerSec }}
	mP99       = metric{"p99 latency", "µs", "%.0f", func(r *Result) float64 { return r.P99us }}
	mConnRate  = metric{"connections/s", "", "%.0f", func(r *Result) float64 { return r.ConnectPerSec }}
	mRSS       = metric{"RSS added", "MiB", "%.1f", func(r *Result) float64 { return float64(r.RSSAddedKB) / 1024 }}
)

// metricsFor returns the headline numbers of a case.
func metricsFor(r *Result) []metric {
	switch {
	case r.Scenario == "conn":
		return []metric{mConnRate, mRSS}
	case r.Rate > 0:
		return []metric{mP99}
	default:
		return []metric{mDelivered}
	}
}

// summarize prints, for each case (results with the same name), the median
// of each broker's runs and the ratio of every other broker to the first one
// named "mosquitto" (or else the first broker seen), as Markdown tables: the
// headline numbers, the slow-subscriber impact (when a case has stalled
// subscribers), then the details.
func summarize(rs []Result, w io.Writer) {
	var cases, brokers []string
	byKey := map[[2]string][]*Result{}
	for i := range rs {
		r := &rs[i]
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("%s qos%d %dB", r.Scenario, r.QoS, r.Size)
		}
		if !slices.Contains(cases, name) {
			cases = append(cases, name)
		}
		if !slices.Contains(brokers, r.Broker) {
			brokers = append(brokers, r.Broker)
		}
		k := [2]string{name, r.Broker}
		byKey[k] = append(byKey[k], r)
	}
	if len(rs) == 0 {
		fmt.Fprintln(w, "no results")
		return
	}
	base := brokers[0]
	for _, b := range brokers {
		if strings.HasPrefix(strings.ToLower(b), "mosquitto") {
			base = b
			break
		}
	}
	others := []string{}
	for _, b := range brokers {
		if b != base {
			others = append(others, b)
		}
	}
	order := append([]string{base}, others...)
	med := func(rs []*Result, f func(*Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	sumOf := func(rs []*Result, f func(*Result) float64) float64 {
		t := 0.0
		for _, r := range rs {
			t += f(r)
		}
		return t
	}

	// Headline table.
	fmt.Fprintf(w, "| case | metric |")
	for _, b := range order {
		fmt.Fprintf(w, " %s |", b)
	}
	for _, b := range others {
		fmt.Fprintf(w, " %s / %s |", b, base)
	}
	fmt.Fprintf(w, " lost + dups, all runs (%s) |\n", strings.Join(order, " / "))
	fmt.Fprintf(w, "|---|---|%s%s---|\n", strings.Repeat("---:|", len(order)+len(others)), "")
	for _, c := range cases {
		var first *Result
		for _, b := range order {
			if rs := byKey[[2]string{c, b}]; len(rs) > 0 {
				first = rs[0]
				break
			}
		}
		for _, m := range metricsFor(first) {
			label := m.label
			if m.unit != "" {
				label += " (" + m.unit + ")"
			}
			fmt.Fprintf(w, "| %s | %s |", c, label)
			meds := map[string]float64{}
			for _, b := range order {
				rs := byKey[[2]string{c, b}]
				if len(rs) == 0 {
					fmt.Fprintf(w, " – |")
					continue
				}
				meds[b] = med(rs, m.get)
				fmt.Fprintf(w, " "+m.format+" |", meds[b])
			}
			for _, b := range others {
				v, okv := meds[b]
				bv, okb := meds[base]
				if okv && okb && bv != 0 {
					fmt.Fprintf(w, " %.2f |", v/bv)
				} else {
					fmt.Fprintf(w, " – |")
				}
			}
			var lost []string
			for _, b := range order {
				rs := byKey[[2]string{c, b}]
				if first.Scenario == "conn" {
					lost = append(lost, fmt.Sprintf("%.0f failed", sumOf(rs, func(r *Result) float64 { return float64(r.ErrorCount) })))
					continue
				}
				lost = append(lost, fmt.Sprintf("%.0f + %.0f", sumOf(rs, func(r *Result) float64 { return float64(r.Lost) }),
					sumOf(rs, func(r *Result) float64 { return float64(r.Dups) })))
			}
			fmt.Fprintf(w, " %s |\n", strings.Join(lost, " / "))
		}
	}

	slowSubscriberImpact(w, cases, order, byKey, med)

	// Details: medians of everything else worth knowing.
	fmt.Fprintf(w, "\nDetails (medians over the runs of each broker):\n\n")
	fmt.Fprintf(w, "| case | broker | runs | sent msgs/s | delivered msgs/s | p50 µs | p99 µs | max µs | broker CPU %% | broker RSS after MiB | bench CPU %% | errors |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cases {
		for _, b := range order {
			rs := byKey[[2]string{c, b}]
			if len(rs) == 0 {
				continue
			}
			if rs[0].Scenario == "conn" {
				fmt.Fprintf(w, "| %s | %s | %d | – | %.0f conn/s | p50 %.2f ms | p99 %.2f ms | – | – | %.1f | %.0f | %.0f |\n", c, b, len(rs),
					med(rs, mConnRate.get), med(rs, func(r *Result) float64 { return r.ConnectP50ms }),
					med(rs, func(r *Result) float64 { return r.ConnectP99ms }),
					med(rs, func(r *Result) float64 { return float64(r.BrokerRSSAfterKB) / 1024 }),
					med(rs, func(r *Result) float64 { return r.ClientCPUPct }),
					sumOf(rs, func(r *Result) float64 { return float64(r.ErrorCount) }))
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f |\n", c, b, len(rs),
				med(rs, func(r *Result) float64 { return r.SentPerSec }),
				med(rs, mDelivered.get),
				med(rs, func(r *Result) float64 { return r.P50us }),
				med(rs, mP99.get),
				med(rs, func(r *Result) float64 { return r.MaxUs }),
				med(rs, func(r *Result) float64 { return r.BrokerCPUPct }),
				med(rs, func(r *Result) float64 { return float64(r.BrokerRSSAfterKB) / 1024 }),
				med(rs, func(r *Result) float64 { return r.ClientCPUPct }),
				sumOf(rs, func(r *Result) float64 { return float64(r.ErrorCount) }))
		}
	}
}

// slowSubscriberImpact prints, for each case run with stalled subscribers
// (-stalled) and each broker, the median delivered msgs/s to the healthy
// subscribers over that of the same case without stalled subscribers (same
// scenario, clients, QoS, size, window and rate): issue 4 asks that a slow
// subscriber lower the others' throughput by no more than 10%.
func slowSubscriberImpact(w io.Writer, cases, order []string, byKey map[[2]string][]*Result, med func([]*Result, func(*Result) float64) float64) {
	firstOf := func(c string) *Result {
		for _, b := range order {
			if rs := byKey[[2]string{c, b}]; len(rs) > 0 {
				return rs[0]
			}
		}
		return nil
	}
	header := false
	for _, c := range cases {
		f := firstOf(c)
		if f == nil || f.StalledSubscribers == 0 || f.Scenario == "conn" {
			continue
		}
		base := ""
		for _, c2 := range cases {
			g := firstOf(c2)
			if g != nil && g.StalledSubscribers == 0 && g.Scenario == f.Scenario && g.Clients == f.Clients &&
				g.QoS == f.QoS && g.Size == f.Size && g.Window == f.Window && g.Rate == f.Rate {
				base = c2
				break
			}
		}
		if base == "" {
			continue
		}
		if !header {
			header = true
			fmt.Fprintf(w, "\nSlow-subscriber impact: delivered msgs/s to the healthy subscribers with stalled subscribers (never reading) over the same case without (issue 4: at least 0.90):\n\n")
			fmt.Fprintf(w, "Runs are paired by round (the two cases run back to back in each), so the median of the per-round ratios is the steadier figure.\n\n")
			fmt.Fprintf(w, "| case | without stalled subscribers | broker | msgs/s without | msgs/s with | with / without (medians) | per round | median per round |\n")
			fmt.Fprintf(w, "|---|---|---|---:|---:|---:|---|---:|\n")
		}
		for _, b := range order {
			with, without := byKey[[2]string{c, b}], byKey[[2]string{base, b}]
			if len(with) == 0 || len(without) == 0 {
				continue
			}
			v, bv := med(with, mDelivered.get), med(without, mDelivered.get)
			ratio := "–"
			if bv != 0 {
				ratio = fmt.Sprintf("%.2f", v/bv)
			}
			var per []float64
			var perText []string
			for i := range min(len(with), len(without)) {
				if d := without[i].DeliveredPerSec; d != 0 {
					per = append(per, with[i].DeliveredPerSec/d)
					perText = append(perText, fmt.Sprintf("%.2f", with[i].DeliveredPerSec/d))
				}
			}
			perMed := "–"
			if len(per) > 0 {
				slices.Sort(per)
				perMed = fmt.Sprintf("%.2f", per[len(per)/2])
				if len(per)%2 == 0 {
					perMed = fmt.Sprintf("%.2f", (per[len(per)/2-1]+per[len(per)/2])/2)
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.0f | %s | %s | %s |\n", c, base, b, bv, v, ratio, strings.Join(perText, " "), perMed)
		}
	}
}
