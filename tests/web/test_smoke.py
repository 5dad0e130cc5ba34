def test_login_and_open_case(app, login_as):
    user, client = login_as("analyst")
    response = client.get("/")
    assert response.status_code == 200
    response = client.post(
        "/cases/new",
        data={"title": "Coding sweep from 212 accounts", "severity": "high", "summary": "x"},
    )
    assert response.status_code == 302, response.data
    page = client.get(response.headers["Location"])
    assert b"Coding sweep from 212 accounts" in page.data
    assert b"Start triage" in page.data
