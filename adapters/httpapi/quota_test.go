package httpapi

import (
	"testing"
	"time"
)

func TestLicenseQuotaIsPerLicense(t *testing.T) {
	t.Parallel()
	q := newLicenseQuota(2, 3)
	now := time.Unix(1763800000, 0)
	for i := range 3 {
		if ok, _ := q.take("lic-a", now); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := q.take("lic-a", now)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("fourth request at once: ok %v, wait %s; want refused for up to 500 ms (2 per second)", ok, wait)
	}
	// Another license has a bucket of its own.
	for i := range 3 {
		if ok, _ := q.take("lic-b", now); !ok {
			t.Fatalf("license b's request %d refused while license a is over its quota", i+1)
		}
	}
	// Refused requests take nothing: after half a second exactly one more goes through.
	for range 10 {
		q.take("lic-a", now)
	}
	later := now.Add(500 * time.Millisecond)
	if ok, _ := q.take("lic-a", later); !ok {
		t.Fatal("the token refilled after 500 ms was taken by refused requests")
	}
	if ok, _ := q.take("lic-a", later); ok {
		t.Fatal("a second request passed on one refilled token")
	}
}
