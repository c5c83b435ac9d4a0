package ignition

import "github.com/etcdboot/etcdboot/images"

// maintenanceDropIn renders the maintenance timer's drop-in for the
// payload's interval (the default when unset), or nil without a maintenance
// section.
func (b Bundle) maintenanceDropIn() ([]byte, error) {
	if b.Payload.Maintenance == nil {
		return nil, nil
	}
	m := *b.Payload.Maintenance
	m.ApplyDefaults()
	return images.MaintenanceTimerDropIn(m.Interval.Std())
}
