//! Identity loading: `pem:`, `file:` and bare-path values, RSA (PKCS#1, PKCS#8) and EC (SEC1) keys, clear errors.
//! The keys below are throw-away test keys made with openssl for this file only.

use mcpz::core::ziti::Identity;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBejCCASGgAwIBAgIUZWtzZDVeEJyd8R7fPeOilnWg6i0wCgYIKoZIzj0EAwIw\nEjEQMA4GA1UEAwwHdGVzdC1jYTAgFw0yNjExMjUyMDIyNDNaGA8yMTI2MTEwMTIw\nMjI0M1owEjEQMA4GA1UEAwwHdGVzdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABBYRj6dC9ZGxdbHa/ZNtn3ste58FeWbzbuJC4bF/otZzLechJeMtWiPBTaZ8\n3eqcPP4Eyie/Fj6oRr5uib3jUoqjUzBRMB0GA1UdDgQWBBT8W5hLOvvDTcCB+JMG\nwhv8BINIgzAfBgNVHSMEGDAWgBT8W5hLOvvDTcCB+JMGwhv8BINIgzAPBgNVHRMB\nAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIClo/H3OK/ic/Ea8B/6y6fLE/7te\n9qbzhHlf+kqVcHYZAiBhplWuEUc6P4Qi3pMnAeZ/ZBt2drs6OdtZhkZJlXcPcg==\n-----END CERTIFICATE-----\n";
const RSA_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIICezCCAiCgAwIBAgIUJzqGuLgZKVzM3PrZl1WudTarE0YwCgYIKoZIzj0EAwIw\nEjEQMA4GA1UEAwwHdGVzdC1jYTAgFw0yNjExMjUyMDI4NTBaGA8yMTI2MTEwMTIw\nMjg1MFowKjERMA8GA1UECgwIT3BlblppdGkxFTATBgNVBAMMDHJzYS1pZGVudGl0\neTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAKccgdXPpu6lV7OXKnGo\nHzMkQRr0z4LFUra1B+on1WjHdwx+6qAXUsy1b25za52O56DQutQL7sPD+uSyB6x4\nr7vDTpsdYT3PqWYZOcDDDY8XenL9+IvyhM9U48zGoXNUjMTIcSg8DLXX6PacixA7\nCIPU+lYwatPTbjqlxfeI8sZnZDtvn5dLqgm/CVjwHHgyJXIBqVFwijpsNHxK/lSx\n0aFVAsn0l7sVsB2klyi3XOhJAtO4ibiKBzhMJqBxn6aUGoeQuVvrNtkR/a3iJ4td\nKkcqQo2EdSMnnlPujV/08MruwYp80fetaO8J3ulqytKnPcJhSZ6x1f2Jv7Q6u0gp\nFK8CAwEAAaNvMG0wCQYDVR0TBAIwADALBgNVHQ8EBAMCBaAwEwYDVR0lBAwwCgYI\nKwYBBQUHAwIwHQYDVR0OBBYEFLhzpjbSC3WJpBZo+UE2PQaMPGuuMB8GA1UdIwQY\nMBaAFPxbmEs6+8NNwIH4kwbCG/wEg0iDMAoGCCqGSM49BAMCA0kAMEYCIQC783L6\nERu/6oc1CMf+SmFJIHSLNO7U3uWBoMhZzrjWcAIhANWz2uYHHfuvNXf4g/kdn275\nzd7a3FkRkiLX2Hs9AQ7W\n-----END CERTIFICATE-----\n";
const RSA_KEY_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEApxyB1c+m7qVXs5cqcagfMyRBGvTPgsVStrUH6ifVaMd3DH7q\noBdSzLVvbnNrnY7noNC61Avuw8P65LIHrHivu8NOmx1hPc+pZhk5wMMNjxd6cv34\ni/KEz1TjzMahc1SMxMhxKDwMtdfo9pyLEDsIg9T6VjBq09NuOqXF94jyxmdkO2+f\nl0uqCb8JWPAceDIlcgGpUXCKOmw0fEr+VLHRoVUCyfSXuxWwHaSXKLdc6EkC07iJ\nuIoHOEwmoHGfppQah5C5W+s22RH9reIni10qRypCjYR1IyeeU+6NX/Twyu7BinzR\n961o7wne6WrK0qc9wmFJnrHV/Ym/tDq7SCkUrwIDAQABAoIBAE7ImMllYWznFIa9\ngKwet77Tm8IKon4jaxBqHnYdG3aPeyev+gtJk6ag7wzia1zXj4n4fewUSBeRIIqL\nCCUerLLXrApi+oI6kcFpqRmgm5bXWco2w+OujUB15AOZrWoC9W6clQSD8vYT+Wey\ne7lGK4iDcxYJM4P0DOanWsKNlO9F8inKfs5Zc+QHfTV8ceqGciOSLLqDVrH2CWks\nHbxkKqxuNUoZWTZLJVeBi8clVAW857igFA15FkvBAiBoPVhPweQqssOOHYKnX5Du\niAR/+wRDNACC1GURjjL8SoN216Hqz7+1vdPh+KrrrXoqfmQBrM4CZOMpPc5UsZjf\nLrwAOUkCgYEA0MFkkZ27M6+JjKauFxwagnZLlbA9d8uGWpfYR8gPCPMvtMUz/M/o\nf86a3l3kMDzeXvETY4DA2fDk0woZJ4K1w08Ftu1m4DSHUSYKQdPYtN2e8dviodUT\neDn6HaJa1b6TDyQbhd0pfWwQJx6InVKyHS8/kwc2Y+LyO0ITANnpCwMCgYEAzO5k\nb0P93QHD7lma2xH/4nei4n+qyfCnCPPr1SkRliyza+1Qvz7kJVuqiNq5XQxzIywq\nM7gHdAwoutbDVsT7JeW5PmJYrl0+wFBpc2Z3vofXwYNM7Hgcp+pkNpruni+1ilOT\ndC0Cqx3r5w4J2lMsYIzoVhwTVEd+4ohN7Ze6aeUCgYEAgsakmhSWEesF4HcK2K9i\nbBhvgXbHCyUVJeu6Mj3CLXkribOAvgABRw/HNUbcjNuU8yVTYCJorh+bOho5Z+ca\ntx/qFI7kw9AkdVG/Wz27pJKx4BJAB+HUMJ0hcy8ieITK29Fi7JmARHJOLDOUofoM\nWvwed50tFaY22aiq/v2EYMECgYAspYtQCloWejn7hZ4NOECtUC82dWX6FOnvM2Uf\nzZC9TQPR8aPz5nnCAdSHeE+GDB5RfV+8YM2O5M9C1WM9VjD5MrFG/Boh8sKnF13B\n/IL+CY5h5H8vzYNAufoXQ23VHMPKXSb02pGIQj6Q2igfXpt+dXRwvjEf3WuxYszH\nhJTiWQKBgQCjMhgY5PNY9Kiz19weOxDELaw9N5oqcKSiiGnGac6JYmV/E70mvySK\nL7cILckiR7eqL9qk29T9fb90D9Yx4XcR25kJIaBDHHJPjd+ZIEnVa+tuXCQ+WqN8\n01BZjS6VocsD4I2jJWIJbX/u/dMTwTUZ6N4XhE/iuuXDVrWt0EllOg==\n-----END RSA PRIVATE KEY-----\n";
const RSA_KEY_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCnHIHVz6bupVez\nlypxqB8zJEEa9M+CxVK2tQfqJ9Vox3cMfuqgF1LMtW9uc2udjueg0LrUC+7Dw/rk\nsgeseK+7w06bHWE9z6lmGTnAww2PF3py/fiL8oTPVOPMxqFzVIzEyHEoPAy11+j2\nnIsQOwiD1PpWMGrT0246pcX3iPLGZ2Q7b5+XS6oJvwlY8Bx4MiVyAalRcIo6bDR8\nSv5UsdGhVQLJ9Je7FbAdpJcot1zoSQLTuIm4igc4TCagcZ+mlBqHkLlb6zbZEf2t\n4ieLXSpHKkKNhHUjJ55T7o1f9PDK7sGKfNH3rWjvCd7pasrSpz3CYUmesdX9ib+0\nOrtIKRSvAgMBAAECggEATsiYyWVhbOcUhr2ArB63vtObwgqifiNrEGoedh0bdo97\nJ6/6C0mTpqDvDOJrXNePifh97BRIF5EgiosIJR6sstesCmL6gjqRwWmpGaCbltdZ\nyjbD466NQHXkA5mtagL1bpyVBIPy9hP5Z7J7uUYriINzFgkzg/QM5qdawo2U70Xy\nKcp+zllz5Ad9NXxx6oZyI5IsuoNWsfYJaSwdvGQqrG41ShlZNkslV4GLxyVUBbzn\nuKAUDXkWS8ECIGg9WE/B5Cqyw44dgqdfkO6IBH/7BEM0AILUZRGOMvxKg3bXoerP\nv7W90+H4quuteip+ZAGszgJk4yk9zlSxmN8uvAA5SQKBgQDQwWSRnbszr4mMpq4X\nHBqCdkuVsD13y4Zal9hHyA8I8y+0xTP8z+h/zpreXeQwPN5e8RNjgMDZ8OTTChkn\ngrXDTwW27WbgNIdRJgpB09i03Z7x2+Kh1RN4OfodolrVvpMPJBuF3Sl9bBAnHoid\nUrIdLz+TBzZj4vI7QhMA2ekLAwKBgQDM7mRvQ/3dAcPuWZrbEf/id6Lif6rJ8KcI\n8+vVKRGWLLNr7VC/PuQlW6qI2rldDHMjLCozuAd0DCi61sNWxPsl5bk+YliuXT7A\nUGlzZne+h9fBg0zseByn6mQ2mu6eL7WKU5N0LQKrHevnDgnaUyxgjOhWHBNUR37i\niE3tl7pp5QKBgQCCxqSaFJYR6wXgdwrYr2JsGG+BdscLJRUl67oyPcIteSuJs4C+\nAAFHD8c1RtyM25TzJVNgImiuH5s6Gjln5xq3H+oUjuTD0CR1Ub9bPbukkrHgEkAH\n4dQwnSFzLyJ4hMrb0WLsmYBEck4sM5Sh+gxa/B53nS0VpjbZqKr+/YRgwQKBgCyl\ni1AKWhZ6OfuFng04QK1QLzZ1ZfoU6e8zZR/NkL1NA9Hxo/PmecIB1Id4T4YMHlF9\nX7xgzY7kz0LVYz1WMPkysUb8GiHywqcXXcH8gv4JjmHkfy/Ng0C5+hdDbdUcw8pd\nJvTakYhCPpDaKB9em351dHC+MR/da7FizMeElOJZAoGBAKMyGBjk81j0qLPX3B47\nEMQtrD03mipwpKKIacZpzoliZX8TvSa/JIovtwgtySJHt6ov2qTb1P19v3QP1jHh\ndxHbmQkhoEMcck+N35kgSdVr625cJD5ao3zTUFmNLpWhywPgjaMlYgltf+790xPB\nNRno3heET+K65cNWta3QSWU6\n-----END PRIVATE KEY-----\n";
const EC_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBmjCCAUGgAwIBAgIUJzqGuLgZKVzM3PrZl1WudTarE0cwCgYIKoZIzj0EAwIw\nEjEQMA4GA1UEAwwHdGVzdC1jYTAgFw0yNjExMjUyMDI4NTBaGA8yMTI2MTEwMTIw\nMjg1MFowFjEUMBIGA1UEAwwLZWMtaWRlbnRpdHkwWTATBgcqhkjOPQIBBggqhkjO\nPQMBBwNCAAT7l+u6khZlC8zDQWWctWp6/jUyny8mhhUWUext5FcIW4FYtHr2SiMV\nIqGFM8xxFB1h7du6VzbxkDAkxoLZPuFKo28wbTAJBgNVHRMEAjAAMAsGA1UdDwQE\nAwIFoDATBgNVHSUEDDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQUabmgEzhyuaio9V/9\nTau74QIRBlYwHwYDVR0jBBgwFoAU/FuYSzr7w03AgfiTBsIb/ASDSIMwCgYIKoZI\nzj0EAwIDRwAwRAIgEHYXK48vhK7leCHjbtU5hcnFz/wGHLo27Dw1Xmb4W+ACIGds\nBUrDLBOGaQjz2sPFN3tNB/hadDEGyz35a+eO+AQY\n-----END CERTIFICATE-----\n";
const EC_KEY_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIDcCGWEE6eGiDUoQVrcduQJGi0RLiRq4hYBexaNcWz2koAoGCCqGSM49\nAwEHoUQDQgAE+5frupIWZQvMw0FlnLVqev41Mp8vJoYVFlHsbeRXCFuBWLR69koj\nFSKhhTPMcRQdYe3bulc28ZAwJMaC2T7hSg==\n-----END EC PRIVATE KEY-----\n";

fn json(cert: &str, key: &str, ca: &str) -> Vec<u8> {
    serde_json::json!({
        "ztAPI": "https://127.0.0.1:1280/edge/client/v1",
        "ztAPIs": ["https://127.0.0.1:1280/edge/client/v1"],
        "configTypes": null,
        "id": {"cert": cert, "key": key, "ca": ca},
    })
    .to_string()
    .into_bytes()
}

fn pem(s: &str) -> String {
    format!("pem:{s}")
}

#[test]
fn rsa_pkcs1_and_pkcs8_from_pem_values() {
    for key in [RSA_KEY_PKCS1, RSA_KEY_PKCS8] {
        let id = Identity::from_json(&json(&pem(RSA_CERT), &pem(key), &pem(CA)), None).unwrap();
        assert_eq!(id.common_name, "rsa-identity");
        assert_eq!(id.api.as_str(), "https://127.0.0.1:1280/edge/client/v1");
        assert!(id.apis.is_empty(), "duplicate of ztAPI dropped");
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("PRIVATE"), "{dbg}");
    }
}

#[test]
fn ec_key_from_file_and_bare_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.pem"), EC_CERT).unwrap();
    std::fs::write(dir.path().join("k.pem"), EC_KEY_SEC1).unwrap();
    std::fs::write(dir.path().join("ca.pem"), CA).unwrap();
    let abs = |n: &str| format!("file://{}", dir.path().join(n).display());
    let f = dir.path().join("id.json");
    std::fs::write(
        &f,
        json(
            &abs("c.pem"),
            "k.pem",
            &format!("file:{}", dir.path().join("ca.pem").display()),
        ),
    )
    .unwrap();
    let id = Identity::from_file(&f).unwrap();
    assert_eq!(id.common_name, "ec-identity");
}

#[test]
fn mismatched_key_is_a_clear_error() {
    let e = Identity::from_json(&json(&pem(RSA_CERT), &pem(EC_KEY_SEC1), &pem(CA)), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("id.key"), "{e}");
}

#[test]
fn missing_ca_is_refused() {
    let e = Identity::from_json(&json(&pem(RSA_CERT), &pem(RSA_KEY_PKCS1), ""), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("id.ca"), "{e}");
}
