package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// writeTables prints the MAC table, the neighbor table and the counters as
// aligned tables.
func writeTables(w io.Writer, sw *vswitch.Switch) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tVNI\tMAC\tWHERE\tTYPE\tAGE")
	for _, e := range sw.FDB("") {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", e.Network, e.VNI, e.MAC, e.Where, e.Type, age(e.Age, e.Type.String()))
	}
	fmt.Fprintln(tw, "\t\t\t\t\t")
	fmt.Fprintln(tw, "NETWORK\tVNI\tIP\tMAC\tTYPE\tAGE")
	for _, e := range sw.Neighbors("") {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", e.Network, e.VNI, e.IP, e.MAC, e.Type, age(e.Age, e.Type.String()))
	}
	tw.Flush()
	fmt.Fprintln(w)
	writeStats(w, sw)
}

// writeStats prints per-network counters with drops by reason.
func writeStats(w io.Writer, sw *vswitch.Switch) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tVNI\tRECEIVED\tFORWARDED\tFLOODED\tPROXIED\tDROPPED\tMACS\tNEIGH\tDROPS BY REASON")
	nets, unmatched := sw.Stats()
	for _, n := range nets {
		st := n.Stats
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", n.Name, n.VNI, st.Received, st.Forwarded,
			st.Flooded, st.Proxied, st.Dropped(), n.MACs, n.Neighbors, reasons(st))
	}
	fmt.Fprintf(tw, "(no network)\t-\t%d\t-\t-\t-\t%d\t-\t-\t%s\n", unmatched.Received, unmatched.Dropped(), reasons(unmatched))
	tw.Flush()
}

func reasons(st vswitch.Stats) string {
	var parts []string
	for _, r := range vswitch.Reasons() {
		if n := st.Drops[r.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", r, n))
		}
	}
	if st.LearnFull > 0 {
		parts = append(parts, fmt.Sprintf("(not learned, table full: %d)", st.LearnFull))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func age(d time.Duration, typ string) string {
	if typ == "static" {
		return "-"
	}
	return d.Truncate(100 * time.Millisecond).String()
}
