package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Cache indexes shared by the reconcilers.
const (
	// batchDeviceTypeIndex indexes Batches by spec.deviceType.
	batchDeviceTypeIndex = "spec.deviceType"
	// jobBatchIndex indexes Jobs by spec.batchName.
	jobBatchIndex = "spec.batchName"
	// deviceTypeIndex indexes Devices by spec.deviceType.
	deviceTypeIndex = "spec.deviceType"
)

// SetupIndexes registers the cache indexes the reconcilers list by.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	fi := mgr.GetFieldIndexer()
	if err := fi.IndexField(ctx, &quantumv1alpha1.Batch{}, batchDeviceTypeIndex, func(o client.Object) []string {
		return []string{string(o.(*quantumv1alpha1.Batch).Spec.DeviceType)}
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &quantumv1alpha1.Job{}, jobBatchIndex, func(o client.Object) []string {
		return []string{o.(*quantumv1alpha1.Job).Spec.BatchName}
	}); err != nil {
		return err
	}
	return fi.IndexField(ctx, &quantumv1alpha1.Device{}, deviceTypeIndex, func(o client.Object) []string {
		return []string{string(o.(*quantumv1alpha1.Device).Spec.DeviceType)}
	})
}
