"""The test harness itself: the dependencies it hands out are real and isolated."""

import psycopg


def test_database_is_real_and_fresh(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (41)")
        assert conn.execute("SELECT x + 1 FROM t").fetchone() == (42,)


def test_each_test_gets_its_own_database(pg):
    a, b = pg.create_database(), pg.create_database()
    try:
        assert a != b
        with psycopg.connect(a) as conn:
            conn.execute("CREATE TABLE only_in_a (x int)")
        with psycopg.connect(b) as conn:
            found = conn.execute("SELECT to_regclass('only_in_a')").fetchone()
        assert found == (None,)
    finally:
        pg.drop_database(a)
        pg.drop_database(b)


def test_s3_round_trip_over_http(s3, bucket):
    client = s3.client()
    client.put_object(Bucket=bucket, Key="k", Body=b"hello")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello"
    assert s3.endpoint_url.startswith("http://")
