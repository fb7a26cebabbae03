package deliveryview

import (
	"reflect"
	"testing"

	"github.com/hookd/hookd/domain/delivery"
)

// TestScheduledRowMirrorsScheduled checks that every field the view decodes from a DeliveryScheduled
// is a field of delivery.Scheduled under the same JSON name and type: a renamed or retyped field in
// the domain would otherwise leave the view's column silently empty.
func TestScheduledRowMirrorsScheduled(t *testing.T) {
	t.Parallel()
	domain := map[string]reflect.Type{}
	st := reflect.TypeFor[delivery.Scheduled]()
	for i := range st.NumField() {
		domain[st.Field(i).Tag.Get("json")] = st.Field(i).Type
	}
	rt := reflect.TypeFor[scheduledRow]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag := f.Tag.Get("json")
		if typ, ok := domain[tag]; !ok || typ != f.Type {
			t.Errorf("scheduledRow.%s (json %q, %s) has no counterpart in delivery.Scheduled (found %v)", f.Name, tag, f.Type, typ)
		}
	}
}
