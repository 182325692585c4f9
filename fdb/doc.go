// Package fdb holds vxswitch's per-VNI MAC forwarding tables and neighbor (IP→MAC) tables: learning, ageing, static entries, bounded size.
package fdb
