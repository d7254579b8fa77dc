package main

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "show the client and server version information",
		Action: func(c *cli.Context) error {
			tw := tabwriter.NewWriter(ioOf(c).out, 0, 0, 1, ' ', 0)
			defer tw.Flush()
			out := tw
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			sv, serr := cl.ServerVersion(c.Context, client.ServerVersionOptions{})
			fmt.Fprintf(out, "Client:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n",
				version, cl.ClientVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if serr != nil {
				return serr
			}
			writeServerVersion(out, sv)
			return nil
		},
	}
}

// writeServerVersion prints the server part of `version`.
func writeServerVersion(out io.Writer, sv client.ServerVersionResult) {
	fmt.Fprintf(out, "\nServer: %s\n", sv.Platform.Name)
	for _, comp := range sv.Components {
		fmt.Fprintf(out, " %s:\n  Version:\t%s\n", comp.Name, comp.Version)
		keys := make([]string, 0, len(comp.Details))
		for k := range comp.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if comp.Details[k] != "" {
				fmt.Fprintf(out, "  %s:\t%s\n", k, comp.Details[k])
			}
		}
	}
}

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "display system-wide information",
		Action: func(c *cli.Context) error {
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := cl.Info(c.Context, client.InfoOptions{})
			if err != nil {
				return err
			}
			writeInfo(ioOf(c).out, &res.Info)
			for _, w := range res.Info.Warnings {
				fmt.Fprintln(ioOf(c).err, w)
			}
			return nil
		},
	}
}

// writeInfo prints the fields of `info` that matter on a Berth host.
func writeInfo(out io.Writer, i *system.Info) {
	fmt.Fprintf(out, "Server:\n Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n Images: %d\n",
		i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images)
	fmt.Fprintf(out, " Server Version: %s\n Storage Driver: %s\n", i.ServerVersion, i.Driver)
	for _, kv := range i.DriverStatus {
		fmt.Fprintf(out, "  %s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintf(out, " Logging Driver: %s\n Cgroup Driver: %s\n Cgroup Version: %s\n", i.LoggingDriver, i.CgroupDriver, i.CgroupVersion)
	fmt.Fprintf(out, " Plugins:\n  Volume: %s\n  Network: %s\n  Log: %s\n  Authorization: %s\n",
		strings.Join(i.Plugins.Volume, " "), strings.Join(i.Plugins.Network, " "), strings.Join(i.Plugins.Log, " "), strings.Join(i.Plugins.Authorization, " "))
	fmt.Fprintf(out, " Swarm: %s\n", i.Swarm.LocalNodeState)
	runtimes := make([]string, 0, len(i.Runtimes))
	for name := range i.Runtimes {
		runtimes = append(runtimes, name)
	}
	sort.Strings(runtimes)
	fmt.Fprintf(out, " Runtimes: %s\n Default Runtime: %s\n", strings.Join(runtimes, " "), i.DefaultRuntime)
	fmt.Fprintf(out, " Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %d\n Total Memory: %s\n Name: %s\n ID: %s\n Docker Root Dir: %s\n Debug Mode: %v\n Live Restore Enabled: %v\n",
		i.KernelVersion, i.OperatingSystem, i.OSType, i.Architecture, i.NCPU, units.BytesSize(float64(i.MemTotal)),
		i.Name, i.ID, i.DockerRootDir, i.Debug, i.LiveRestoreEnabled)
}
