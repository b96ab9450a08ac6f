//! OCI image layouts (`oci:DIR`, `oci-archive:FILE`) as a transport.
