package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// procSample is what the tool reads of the broker's process in /proc.
type procSample struct {
	cpu   time.Duration // utime + stime
	rssKB int64         // VmRSS
	ok    bool
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTick = 100

// sampleProc reads /proc/PID/stat and /proc/PID/status; pid 0 gives a zero
// sample.
func sampleProc(pid int) procSample {
	if pid <= 0 {
		return procSample{}
	}
	var s procSample
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if ut, st, err := parseStat(b); err == nil {
			s.cpu = time.Duration(ut+st) * time.Second / clockTick
			s.ok = true
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		s.rssKB = parseVmRSS(b)
	}
	return s
}

// parseStat returns utime and stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name, field 2, is in parentheses and may hold spaces.
func parseStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat: no command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, so f[11].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat: %d fields", len(f))
	}
	if utime, err = strconv.ParseUint(string(f[11]), 10, 64); err != nil {
		return 0, 0, err
	}
	stime, err = strconv.ParseUint(string(f[12]), 10, 64)
	return utime, stime, err
}

// parseVmRSS returns the VmRSS line of /proc/PID/status, in kB; -1 if absent.
func parseVmRSS(b []byte) int64 {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) >= 1 {
				if n, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
