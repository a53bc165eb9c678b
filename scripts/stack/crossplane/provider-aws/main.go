// The local stack's DynamoDB Table provider: crossplane-contrib/provider-aws's own Table and
// ProviderConfig controllers (pkg/controller/dynamodb/table, pkg/controller/config), unmodified, in a
// process of their own. Upstream's cmd/provider starts all of its ~200 controllers and cannot start
// until every one of their 199 CRDs (7.4 MB) is in the API server; this main starts these two, with
// upstream's defaults and flags (scripts/stack/crossplane/up.sh passes them).
// Built by scripts/stack/crossplane/install-provider-aws.sh through a module that requires provider-aws.
package main

import (
	"flag"
	"io"
	"os"
	"time"

	xpcontroller "github.com/crossplane/crossplane-runtime/pkg/controller"
	"github.com/crossplane/crossplane-runtime/pkg/feature"
	"github.com/crossplane/crossplane-runtime/pkg/logging"
	"github.com/crossplane/crossplane-runtime/pkg/ratelimiter"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	dynamodbv1alpha1 "github.com/crossplane-contrib/provider-aws/apis/dynamodb/v1alpha1"
	awsv1beta1 "github.com/crossplane-contrib/provider-aws/apis/v1beta1"
	"github.com/crossplane-contrib/provider-aws/pkg/controller/config"
	"github.com/crossplane-contrib/provider-aws/pkg/controller/dynamodb/table"
	"github.com/crossplane-contrib/provider-aws/pkg/features"
	"github.com/crossplane-contrib/provider-aws/pkg/utils/metrics"
)

func main() {
	debug := flag.Bool("debug", false, "log every reconcile")
	syncInterval := flag.Duration("sync", time.Hour, "how often every resource is checked for drift (upstream default)")
	pollInterval := flag.Duration("poll", time.Minute, "how often one resource is checked for drift (upstream default)")
	maxReconcileRate := flag.Int("max-reconcile-rate", 10, "reconciles per second at most (upstream default)")
	managementPolicies := flag.Bool("enable-management-policies", false, "honour spec.managementPolicies")
	metricsAddress := flag.String("metrics-bind-address", "0", "metrics endpoint (0: off; upstream's :8080 would collide between stacks)")
	flag.Parse()

	zl := zap.New(zap.UseDevMode(*debug))
	log := logging.NewLogrLogger(zl.WithName("provider-aws"))
	if *debug {
		ctrl.SetLogger(zl)
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	}
	fail := func(err error, what string) {
		if err != nil {
			log.Info(what, "error", err)
			os.Exit(1)
		}
	}

	cfg, err := ctrl.GetConfig()
	fail(err, "cannot get the API server's config (KUBECONFIG)")
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Cache:   cache.Options{SyncPeriod: syncInterval},
		Metrics: metricsserver.Options{BindAddress: *metricsAddress},
	})
	fail(err, "cannot create the controller manager")
	fail(dynamodbv1alpha1.AddToScheme(mgr.GetScheme()), "cannot add the DynamoDB API")
	fail(awsv1beta1.SchemeBuilder.AddToScheme(mgr.GetScheme()), "cannot add the ProviderConfig API")

	o := xpcontroller.Options{
		Logger:                  log,
		MaxConcurrentReconciles: *maxReconcileRate,
		PollInterval:            *pollInterval,
		GlobalRateLimiter:       ratelimiter.NewGlobal(*maxReconcileRate),
		Features:                &feature.Flags{},
	}
	if *managementPolicies {
		o.Features.Enable(features.EnableAlphaManagementPolicies)
	}
	fail(metrics.SetupMetrics(), "cannot set up the AWS API call metrics")
	fail(config.Setup(mgr, o), "cannot set up the ProviderConfig controller")
	fail(table.SetupTable(mgr, o), "cannot set up the Table controller")
	log.Info("provider-aws DynamoDB Table controller starting", "managementPolicies", *managementPolicies)
	fail(mgr.Start(ctrl.SetupSignalHandler()), "the controller manager stopped")
}
