from pmdesk.dashboard import main

main()
