package s3test_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/etcdboot/etcdboot/internal/s3test"
)

// TestServerStoresObjectsAndRefusesOtherKeys: the server answers signed
// PUT and GET in its bucket, and refuses a request signed with another key.
func TestServerStoresObjectsAndRefusesOtherKeys(t *testing.T) {
	s := s3test.Start(t, s3test.Options{})
	ctx := context.Background()
	cli := s.Client()
	if _, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("a/b"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	out, err := cli.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("a/b")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "hello" {
		t.Errorf("GET = %q", body)
	}
	_, err = s.ClientWith(s.AccessKey, "wrong-secret").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("a/b")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Errorf("GET with a wrong secret: %v", err)
	}
	if u := s.URL("etcd/prod"); !strings.HasPrefix(u, "s3://"+s.Bucket+"/etcd/prod?") || !strings.Contains(u, "use_path_style=true") {
		t.Errorf("URL = %s", u)
	}
}
