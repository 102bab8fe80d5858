// The Go project the Go tests download and build through the registry, on the host and in VMs.

/**
 * A project with several real dependencies whose go.mod files need go 1.19 at most (Debian
 * bookworm's golang-go builds them too).
 */
export const GO_MOD = `module example.com/vmgotest

go 1.19

require (
	github.com/google/uuid v1.6.0
	github.com/pkg/errors v0.9.1
	github.com/spf13/pflag v1.0.5
	golang.org/x/text v0.3.8
)
`;

export const MAIN_GO = `package main

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/pkg/errors"
	"github.com/spf13/pflag"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

func main() {
	name := pflag.String("name", "vm", "who to greet")
	pflag.Parse()
	err := errors.Wrap(fmt.Errorf("inner"), "outer")
	fmt.Println(cases.Title(language.English).String("hello "+*name), uuid.NewSHA1(uuid.NameSpaceDNS, []byte("vm")), err)
}
`;
