#include "unit.h"

int unit_passed, unit_failed;

int
main(void)
{
	test_routes();
	test_httpcheck();
	test_client();
	test_config();
	test_pool();
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed == 0 ? 0 : 1;
}
