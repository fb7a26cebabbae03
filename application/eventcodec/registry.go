// Package eventcodec turns domain events into the log's records and back. Event types are found by
// their stable names on an explicit Registry; secret fields are sealed before they are written.
package eventcodec

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/domain/webhook"
)

// Event is what every domain event is: a value with a stable name. It is an alias of an unnamed
// interface so that a package which may not import this one (projections) can declare a decoder port
// with the identical method signature.
type Event = interface{ EventName() string }

// Registry maps the stable names written in the log to Go types. It is built once by the composition
// root and passed to whatever encodes or decodes events; it is read-only after that and so safe for
// concurrent use.
type Registry struct {
	types map[string]reflect.Type
}

// NewRegistry returns a registry of the given events, each a zero value of its type.
func NewRegistry(events ...Event) (*Registry, error) {
	r := &Registry{types: make(map[string]reflect.Type, len(events))}
	for _, e := range events {
		name, t := e.EventName(), reflect.TypeOf(e)
		if t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("eventcodec: %s: events are struct values, not %s", name, t.Kind())
		}
		if prev, dup := r.types[name]; dup {
			return nil, fmt.Errorf("eventcodec: %s names both %s and %s", name, prev, t)
		}
		r.types[name] = t
	}
	return r, nil
}

// HookdEvents lists every event hookd writes. The list is explicit so that a name in the log never
// depends on a Go type's name or on import order.
func HookdEvents() []Event {
	return []Event{
		webhook.Created{}, webhook.Updated{}, webhook.Disabled{}, webhook.Enabled{}, webhook.Deleted{},
		webhook.SecretRotated{}, webhook.CircuitOpened{}, webhook.CircuitClosed{},
		webhook.HealthMarked{}, webhook.HealthCarried{},
		license.Issued{}, license.Revoked{},
		servicekey.Issued{}, servicekey.Reset{},
		publication.Published{},
		delivery.Scheduled{}, delivery.Attempted{}, delivery.Succeeded{}, delivery.Failed{},
		delivery.ReplayRequested{}, delivery.Deferred{},
	}
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for name := range r.types {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (r *Registry) typeOf(name string) (reflect.Type, bool) {
	t, ok := r.types[name]
	return t, ok
}
