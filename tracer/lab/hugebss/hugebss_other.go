//go:build !linux

package hugebss
