package container

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// The word lists of generated names: weather and sea adjectives, and the
// surnames of navigators, cartographers and oceanographers (a berth is where
// a ship ties up). They are Berth's own lists, not dockerd's.
var (
	nameAdjectives = []string{
		"amber", "ardent", "balmy", "bold", "breezy", "brisk", "calm", "candid",
		"cheery", "civil", "clear", "cosy", "crisp", "curious", "daring", "deft",
		"devout", "eager", "earnest", "fair", "fleet", "fond", "frank", "gallant",
		"gentle", "glad", "golden", "hardy", "hearty", "humble", "jolly", "keen",
		"kindly", "lively", "loyal", "lucid", "mellow", "merry", "mild", "nimble",
		"noble", "patient", "placid", "plucky", "polite", "proud", "quick", "quiet",
		"rapid", "ready", "robust", "rosy", "salty", "serene", "shiny", "silver",
		"sleek", "smooth", "snug", "spry", "stable", "steady", "stout", "sunny",
		"swift", "tidal", "tidy", "trusty", "upbeat", "vivid", "warm", "wary",
		"windy", "wise", "witty", "zesty",
	}
	nameSurnames = []string{
		"baffin", "barents", "beaufort", "bering", "bougainville", "cabot",
		"cabral", "carson", "cartier", "champlain", "cook", "cousteau", "dampier",
		"dias", "drake", "earle", "ekman", "ericsson", "flinders", "forbes",
		"franklin", "frobisher", "gama", "hudson", "humboldt", "kemp", "laperouse",
		"magellan", "maury", "mercator", "munk", "nansen", "ortelius", "piccard",
		"polo", "ross", "scoresby", "shackleton", "stommel", "sverdrup", "tasman",
		"tharp", "vancouver", "verrazzano", "vespucci", "walsh", "weddell",
		"wegener", "zheng",
	}
)

func pick(words []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	if err != nil {
		panic(fmt.Sprintf("container: reading random bytes: %v", err))
	}
	return words[n.Int64()]
}

// RandomName returns a generated name like "brisk_magellan". The caller
// retries on a name clash with a growing attempt number; from attempt 1 on a
// random digit is appended, which makes clashes rare quickly.
func RandomName(attempt int) string {
	name := pick(nameAdjectives) + "_" + pick(nameSurnames)
	if attempt > 0 {
		n, _ := rand.Int(rand.Reader, big.NewInt(10))
		name = fmt.Sprintf("%s%d", name, n.Int64())
	}
	return name
}
