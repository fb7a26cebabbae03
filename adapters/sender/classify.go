package sender

// Unsendable reports whether the attempt sent nothing and no retry would: the outbound policy refused
// the destination, or the request could not be built. The delivery policy fails such an attempt at
// once (delivery.Attempt.Unsendable).
func (o Outcome) Unsendable() bool {
	return o.Status == 0 && (o.ErrorClass == ClassBlocked || o.ErrorClass == ClassInvalidRequest)
}
